"""medclip.plugins.PluginRegistry: entry points load on first lookup, by name, once; broken ones are one line."""

import sys

import pytest
from test_plugins_cli import write_plugin

from medclip.plugins import PluginRegistry


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Three plug-ins of the group ``medclip.test_things`` on sys.path (imported modules cleaned up)."""
    group = "medclip.test_things"
    write_plugin(tmp_path, "self_registering", """
        from test_plugins_registry import REG

        @REG.register("selfreg", colour="red")
        def thing():
            return "selfreg"
    """, group, "selfreg", "thing")  # fmt: skip
    write_plugin(tmp_path, "plain_object", "def thing():\n    return 'plain'\n", group, "plain", "thing")
    write_plugin(tmp_path, "broken_plugin", "raise RuntimeError('boom')\n", group, "broken", "x")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield group
    for n in list(REG):
        REG.unregister(n)
    for m in ("self_registering", "plain_object", "broken_plugin"):
        sys.modules.pop(m, None)


REG = PluginRegistry("test thing", "medclip.test_things")


def test_entry_points_load_by_name_on_first_lookup(installed):
    assert REG.plugin_names() == ["broken", "plain", "selfreg"] and len(REG) == 0
    assert "self_registering" not in sys.modules
    assert "selfreg" in REG and REG.meta("selfreg") == {"colour": "red"}  # the module's own registration
    assert REG.get("plain")() == "plain" and REG.meta("plain") == {}  # the entry point's object
    assert REG.names() == ["selfreg", "plain"] and "plain_object" in sys.modules
    with pytest.raises(ValueError, match=r"test thing plug-in 'broken' \(broken_plugin:x\) failed to import: boom"):
        REG.get("broken")
    with pytest.raises(ValueError, match=r"unknown test thing 'plian'\. Did you mean: plain"):
        REG.get("plian")
    assert "nothing" not in REG


def test_without_the_group_installed_names_are_unknown():
    reg = PluginRegistry("test thing", "medclip.no_such_group")
    assert reg.plugin_names() == [] and reg.load_plugins() == [] and "x" not in reg
