"""The one registry type every plug-in family uses."""

import pytest

from medclip.registry import Registry


def test_register_get_meta_and_filtered_names():
    reg = Registry("widget")

    @reg.register("alpha", fast=True, kind="a")
    def alpha():
        return 1

    reg.register("beta", lambda: 2, fast=False, kind="a")
    assert reg.get("alpha") is alpha and reg.get("beta")() == 2
    assert reg.names() == ["alpha", "beta"]
    assert reg.names(fast=True) == ["alpha"]
    assert reg.names(kind="a", fast=False) == ["beta"]
    assert reg.names(missing_key=1) == []
    assert reg.meta("alpha") == {"fast": True, "kind": "a"}
    assert "alpha" in reg and len(reg) == 2 and list(reg) == ["alpha", "beta"]


def test_unknown_name_suggests_close_matches_and_lists_all():
    reg = Registry("few-shot method")
    for n in ("coop", "cocoop", "kgcoop"):
        reg.register(n, object())
    with pytest.raises(ValueError, match=r"unknown few-shot method 'coopp'\. Did you mean: coop.*Registered: coop"):
        reg.get("coopp")
    with pytest.raises(ValueError, match="Registered: coop, cocoop, kgcoop$"):
        reg.get("zzzzzz")


def test_duplicate_names_need_replace_and_unregister_removes():
    reg = Registry("loss")
    reg.register("clip", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("clip", 2)
    reg.register("clip", 3, replace=True, note="x")
    assert reg.get("clip") == 3 and reg.meta("clip") == {"note": "x"}
    reg.unregister("clip")
    assert "clip" not in reg
    with pytest.raises(ValueError, match="unknown loss"):
        reg.unregister("clip")
