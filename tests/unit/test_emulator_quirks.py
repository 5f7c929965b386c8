"""Which of the real service's quirks the emulator imitates: all by default, each switchable."""

from __future__ import annotations

import pytest

from azpublish.emulator.config import EmulatorConfig
from azpublish.emulator.quirks import QUIRKS, parse_quirks
from azpublish.errors import UsageError


def test_every_quirk_is_on_by_default() -> None:
    config = EmulatorConfig()
    assert all(config.quirk(name) for name in QUIRKS)


@pytest.mark.parametrize(("spec", "expected"), [
    ("all", set(QUIRKS)),
    ("none", set()),
    ("", set()),
    ("all,-index_lag", set(QUIRKS) - {"index_lag"}),
    ("none,flex_onedeploy", {"flex_onedeploy"}),
    (" ALL , -Late_Record ", set(QUIRKS) - {"late_record"}),
    ("flex_onedeploy,all,-flex_onedeploy", set(QUIRKS) - {"flex_onedeploy"}),
])
def test_specs_are_read_in_order(spec: str, expected: set[str]) -> None:
    assert parse_quirks(spec) == expected


def test_an_unknown_quirk_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        EmulatorConfig().updated({"quirks": "all,-kindness"}, where="PATCH /_emulator/config")
    assert "unknown quirk 'kindness'" in caught.value.what
    assert all(name in (caught.value.fix or "") for name in QUIRKS)


def test_a_config_change_switches_one_off() -> None:
    config = EmulatorConfig().updated({"quirks": "all,-in_progress_200"}, where="test")
    assert not config.quirk("in_progress_200") and config.quirk("late_record")
