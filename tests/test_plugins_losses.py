"""Losses are a medclip.registry.Registry: built-ins register themselves, plug-ins are one decorator."""

import pytest

from medclip.losses import LOSSES, ClipLoss, MultiPositiveLoss, SigLipLoss, create_loss, list_losses, register_loss


def test_builtin_losses_register_themselves():
    assert LOSSES.get("clip") is ClipLoss and LOSSES.get("siglip") is SigLipLoss
    assert LOSSES.get("multipos") is MultiPositiveLoss
    assert list_losses() == sorted(LOSSES.names())


def test_plugin_loss_is_built_by_name_and_can_be_replaced():
    class Throwaway:
        def __init__(self, *, rank, world_size, scale=1.0):
            self.rank, self.world_size, self.scale = rank, world_size, scale

    class Other(Throwaway):
        pass

    try:
        register_loss("throwaway_loss", note="test")(Throwaway)
        built = create_loss("throwaway_loss", rank=1, world_size=4, scale=2.0)
        assert type(built) is Throwaway and (built.rank, built.world_size, built.scale) == (1, 4, 2.0)
        assert LOSSES.meta("throwaway_loss") == {"note": "test"} and "throwaway_loss" in list_losses()
        register_loss("throwaway_loss")(Other)  # re-registering replaces, as the old dict did
        assert type(create_loss("throwaway_loss")) is Other
    finally:
        LOSSES.unregister("throwaway_loss")
    with pytest.raises(ValueError, match=r"unknown loss 'throwaway_loss'\."):
        create_loss("throwaway_loss")


def test_unknown_loss_suggests_close_names():
    with pytest.raises(ValueError, match=r"unknown loss 'siglp'\. Did you mean: siglip\b"):
        create_loss("siglp")
