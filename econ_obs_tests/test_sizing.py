"""Pod profiles, the choice of one for a step, the bytes-per-bar estimate and the headroom WARN."""

from __future__ import annotations

import pytest

from econ_obs.sizing import (
    DEFAULT_BYTES_PER_BAR,
    DEFAULT_PROFILES,
    MEMORY_HEADROOM_CHECK,
    MemoryObservation,
    PodProfile,
    SizingError,
    bytes_per_bar_estimate,
    choose_profile,
    format_bytes,
    headroom_message,
    headroom_state,
    parse_memory,
    parse_profiles,
    step_need_bytes,
)

GIB = 1024**3
# The seed system's incident: btc_features (a crypto plus BTC) peaked at 7.68 GiB in 8 GiB.
INCIDENT_PEAK = int(7.68 * GIB)
INCIDENT_BARS = 2_000_000
INCIDENT_ASSETS = 2


def test_default_profiles_are_8_16_24_gib():
    assert [(p.name, p.memory_bytes) for p in DEFAULT_PROFILES] == [
        ("standard", 8 * GIB),
        ("medium", 16 * GIB),
        ("heavy", 24 * GIB),
    ]


def test_profiles_parse_from_a_mapping_and_sort_by_memory():
    profiles = parse_profiles(
        {"heavy": "24GiB", "standard": "8GiB", "medium": {"memory": "16Gi", "cpu": "2"}}
    )
    assert profiles == (
        PodProfile("standard", 8 * GIB),
        PodProfile("medium", 16 * GIB, "2"),
        PodProfile("heavy", 24 * GIB),
    )
    assert parse_profiles({"small": "512 MiB"})[0].memory_bytes == 512 * 1024**2
    assert parse_profiles({"raw": 1_000_000})[0].memory_bytes == 1_000_000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"standard": "8GB"}, "profiles.standard.memory: '8GB' is not a memory size"),
        ({"standard": "-1GiB"}, "profiles.standard.memory: '-1GiB' is not a memory size"),
        ({"standard": True}, "profiles.standard.memory: True is not a memory size"),
        ({"Big Pod": "8GiB"}, "profiles.Big Pod: the name must be lower-case"),
        ({"standard": {"mem": "8GiB"}}, "profiles.standard: {'mem': '8GiB'} needs 'memory'"),
        ({"standard": {"memory": "8GiB", "cpu": "two"}}, "profiles.standard.cpu: 'two' is not"),
        ({"a": "8GiB", "b": "8Gi"}, "profiles: 'a' and 'b' have the same memory (8.00 GiB)"),
        ({}, "profiles: {} is not a mapping"),
        (["8GiB"], "profiles: ['8GiB'] is not a mapping"),
    ],
)
def test_a_bad_profile_is_one_line_naming_the_key(raw, message):
    with pytest.raises(SizingError) as error:
        parse_profiles(raw)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_choose_profile_takes_the_smallest_that_holds_the_need():
    # 1 KiB/bar x 1,000,000 bars x 2 assets x 1.25 = 2.38 GiB
    assert choose_profile(1024, 1_000_000, 2).name == "standard"
    # exactly 8 GiB with headroom still fits standard (limit >= need)
    assert choose_profile(4 * GIB / 1.25, 1, 2).name == "standard"
    assert choose_profile(4 * GIB / 1.25 + 1, 1, 2).name == "medium"
    assert choose_profile(10 * GIB, 1, 2, headroom=1.0).name == "heavy"


def test_the_incident_would_have_been_sized_from_its_own_measurement():
    per_bar = bytes_per_bar_estimate(
        [MemoryObservation(INCIDENT_PEAK, INCIDENT_BARS, INCIDENT_ASSETS)]
    )
    assert per_bar == pytest.approx(INCIDENT_PEAK / (INCIDENT_BARS * INCIDENT_ASSETS))
    # 7.68 GiB x 1.25 = 9.6 GiB: medium (16 GiB), not standard (8) and not heavy (24).
    assert step_need_bytes(per_bar, INCIDENT_BARS, INCIDENT_ASSETS) == pytest.approx(9.6 * GIB)
    assert choose_profile(per_bar, INCIDENT_BARS, INCIDENT_ASSETS).name == "medium"


def test_a_step_no_profile_holds_is_one_line_naming_need_and_largest():
    with pytest.raises(SizingError) as error:
        choose_profile(4096, 3_000_000, 2)  # 22.9 GiB x 1.25 = 28.6 GiB
    message = str(error.value)
    assert message == (
        "step needs 28.61 GiB (4,096 bytes/bar x 3,000,000 bars x 2 assets, x 1.25 headroom)"
        " but the largest profile 'heavy' is 24.00 GiB; add a larger profile or split the"
        " step into fewer partitions"
    )


def test_fixed_bytes_count_once_not_per_bar():
    per_bar = 100.0
    need = step_need_bytes(per_bar, 1000, 1, headroom=1.0, fixed_bytes=150 * 1024**2)
    assert need == 100 * 1000 + 150 * 1024**2


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ((0, 10, 1), "bytes_per_bar 0 must be"),
        ((float("nan"), 10, 1), "bytes_per_bar nan must be"),
        ((10, 0, 1), "bars (0) and assets (1) must be >= 1"),
        ((10, 10, 0), "bars (10) and assets (0) must be >= 1"),
        ((10, 10, 1, 0.9), "headroom 0.9 must be >= 1"),
    ],
)
def test_bad_sizing_inputs_are_refused(arguments, fragment):
    with pytest.raises(SizingError, match="^" + fragment.replace("(", r"\(").replace(")", r"\)")):
        choose_profile(*arguments)


def test_estimate_is_the_max_over_the_last_runs_only():
    old_outlier = MemoryObservation(peak_bytes=10_000_000, bars=1000, assets=1)  # 10,000 B/bar
    runs = [old_outlier] + [MemoryObservation(200_000 * (i + 1), 1000, 1) for i in range(10)]
    # The last 10 runs: 200..2,000 bytes/bar; the outlier fell out of the window.
    assert bytes_per_bar_estimate(runs, last_runs=10) == 2000
    assert bytes_per_bar_estimate(runs, last_runs=11) == 10_000
    # Two assets halve the figure per asset.
    assert bytes_per_bar_estimate([MemoryObservation(4000, 1000, 2)]) == 2


def test_estimate_without_measurements_is_the_documented_default():
    assert bytes_per_bar_estimate([]) == DEFAULT_BYTES_PER_BAR == 4096
    assert bytes_per_bar_estimate([], default=512) == 512


def test_estimate_subtracts_fixed_bytes_and_never_reaches_zero():
    runs = [MemoryObservation(peak_bytes=150_000_000 + 300_000, bars=1000, assets=1)]
    assert bytes_per_bar_estimate(runs, fixed_bytes=150_000_000) == 300
    assert bytes_per_bar_estimate(runs, fixed_bytes=200_000_000) == 1.0


def test_estimate_refuses_an_observation_without_bars():
    with pytest.raises(SizingError, match="bars and assets must be >= 1"):
        bytes_per_bar_estimate([MemoryObservation(1000, 0, 1)])


def test_headroom_warns_at_the_threshold():
    incident = headroom_state(INCIDENT_PEAK, 8 * GIB)
    assert incident.status == "warn" and not incident.passed
    assert incident.ratio == pytest.approx(0.96)
    assert headroom_state(85 * GIB, 100 * GIB).status == "warn"  # at the threshold
    assert headroom_state(84 * GIB, 100 * GIB).status == "ok"
    assert headroom_state(84 * GIB, 100 * GIB, threshold=0.8).status == "warn"


def test_headroom_message_names_factor_peak_and_limit():
    state = headroom_state(INCIDENT_PEAK, 8 * GIB)
    assert headroom_message("btc_overlay", state, "standard") == (
        "memory_headroom: factor 'btc_overlay' peaked at 7.68 GiB of its 8.00 GiB limit"
        " ('standard' profile): 96%, at or over 85%; move it to a larger profile"
    )
    ok = headroom_state(4 * GIB, 16 * GIB)
    assert headroom_message("returns", ok) == (
        "memory_headroom: factor 'returns' peaked at 4.00 GiB of its 16.00 GiB limit: 25%,"
        " under 85%"
    )
    assert MEMORY_HEADROOM_CHECK == "memory_headroom"


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [((1, 0), "limit_bytes 0"), ((-1, 10), "peak_bytes -1"), ((1, 10, 1.5), "threshold 1.5")],
)
def test_bad_headroom_inputs_are_refused(arguments, fragment):
    with pytest.raises(SizingError, match=fragment):
        headroom_state(*arguments)


def test_sizes_read_and_print_in_binary_units():
    assert parse_memory("8GiB", "x") == parse_memory("8Gi", "x") == 8 * GIB
    assert parse_memory("1.5 GiB", "x") == int(1.5 * GIB)
    assert format_bytes(INCIDENT_PEAK) == "7.68 GiB"
    assert format_bytes(1536 * 1024**2) == "1.50 GiB"
    assert format_bytes(512) == "512 B"
