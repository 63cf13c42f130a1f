"""The one partition-key codec, and the partitions and mapping of a sweep, as Dagster sees them."""

from __future__ import annotations

import dagster as dg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econ_obs.defs.partitions import (
    CRYPTO_DIM,
    FOLD_COST_DIM,
    FOLD_DIM,
    PartitionKeyError,
    ResultKey,
    SliceKey,
    decode_result_key,
    decode_slice_key,
    encode_result_key,
    encode_slice_key,
    expected_result_keys,
    fold_cost_key,
    parse_fold_cost_key,
    sweep_partitions,
)

CRYPTOS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
fold_ids = st.integers(0, 999)
costs_bps = st.integers(0, 10_000)
slippages_bps = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 2.5, 0.1, 0.3, 10_000.0]),
    st.floats(0, 10_000, allow_nan=False, allow_infinity=False),
)
cryptos = st.sampled_from(CRYPTOS)


@settings(max_examples=300, deadline=None)
@given(fold_id=fold_ids, cost_bps=costs_bps, slippage_bps=slippages_bps)
def test_fold_cost_key_round_trips(fold_id: int, cost_bps: int, slippage_bps: float) -> None:
    key = fold_cost_key(fold_id, cost_bps, slippage_bps)

    assert key.startswith(f"fold{fold_id}_{cost_bps}bps_") and key.endswith("slip")
    assert "e" not in key.removesuffix("slip").split("_")[-1]  # plain decimal, no exponent
    assert parse_fold_cost_key(key) == (fold_id, cost_bps, slippage_bps)


@pytest.mark.parametrize(
    ("slippage_bps", "key"),
    [(2, "fold0_10bps_2slip"), (2.5, "fold0_10bps_2.5slip"), (0, "fold0_10bps_0slip")],
)
def test_the_fold_cost_key_reads_as_a_user_writes_it(slippage_bps: float, key: str) -> None:
    assert fold_cost_key(0, 10, slippage_bps) == key
    assert parse_fold_cost_key(key) == (0, 10, float(slippage_bps))


@pytest.mark.parametrize(
    "bad", ["fold0_10bps_2.50slip", "fold00_10bps_2slip", "fold0_010bps_2slip"]
)
def test_a_non_canonical_fold_cost_key_is_refused_with_the_canonical_one(bad: str) -> None:
    with pytest.raises(PartitionKeyError, match="not canonical"):
        parse_fold_cost_key(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_a_slippage_the_codec_cannot_write_is_refused(bad: float) -> None:
    with pytest.raises(PartitionKeyError, match="slippage_bps"):
        fold_cost_key(0, 10, bad)


@settings(max_examples=200, deadline=None)
@given(crypto=cryptos, fold_id=fold_ids, cost_bps=costs_bps, slippage_bps=slippages_bps)
def test_result_key_round_trips_as_multi_key_and_as_string(
    crypto: str, fold_id: int, cost_bps: int, slippage_bps: float
) -> None:
    key = ResultKey(crypto, fold_id, cost_bps, slippage_bps)
    encoded = encode_result_key(key)

    assert isinstance(encoded, dg.MultiPartitionKey)
    fold_cost = fold_cost_key(fold_id, cost_bps, slippage_bps)
    assert encoded.keys_by_dimension == {CRYPTO_DIM: crypto, FOLD_COST_DIM: fold_cost}
    assert str(encoded) == f"{crypto}|{fold_cost}"
    assert decode_result_key(encoded) == key
    assert decode_result_key(str(encoded)) == key


@settings(max_examples=200, deadline=None)
@given(crypto=cryptos, fold_id=fold_ids)
def test_slice_key_round_trips_as_multi_key_and_as_string(crypto: str, fold_id: int) -> None:
    key = SliceKey(crypto, fold_id)
    encoded = encode_slice_key(key)

    assert encoded.keys_by_dimension == {CRYPTO_DIM: crypto, FOLD_DIM: str(fold_id)}
    assert str(encoded) == f"{crypto}|{fold_id}"
    assert decode_slice_key(encoded) == key
    assert decode_slice_key(str(encoded)) == key


def test_plain_strings_decode_as_a_user_types_them() -> None:
    assert decode_result_key("BTCUSDT|fold0_10bps_2slip") == ResultKey("BTCUSDT", 0, 10, 2.0)
    assert decode_result_key("ETHUSDT|fold12_0bps_2.5slip") == ResultKey("ETHUSDT", 12, 0, 2.5)
    assert decode_slice_key("BTCUSDT|3") == SliceKey("BTCUSDT", 3)
    assert ResultKey("BTCUSDT", 3, 30, 2.0).slice_key == SliceKey("BTCUSDT", 3)


def test_the_old_key_without_slippage_is_refused() -> None:
    with pytest.raises(PartitionKeyError, match="fold0_10bps_2slip"):
        decode_result_key("BTCUSDT|fold0_10bps")


@pytest.mark.parametrize("bad", ["fold0-10", "BTCUSDT", "", "BTCUSDT|", "|fold0_10bps", "a|b|c"])
def test_a_malformed_result_key_names_the_key(bad: str) -> None:
    with pytest.raises(PartitionKeyError) as raised:
        decode_result_key(bad)

    assert repr(bad) in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("BTCUSDT|foldx_10bps", "foldx_10bps"),
        ("BTCUSDT|fold0-10", "fold0-10"),
        ("BTCUSDT|fold0_10", "fold0_10"),
        ("BTCUSDT|0", "'0'"),  # a slice key where a result key belongs
    ],
)
def test_a_bad_fold_cost_part_is_named(bad: str, named: str) -> None:
    with pytest.raises(PartitionKeyError, match="fold0_10bps") as raised:
        decode_result_key(bad)

    assert named in str(raised.value)


@pytest.mark.parametrize(
    "bad",
    [
        "fold0-10",
        "foldx_10bps",
        "",
        "fold_10bps",
        "fold0_bps",
        "0_10",
        "fold0_10bps",
        "fold0_10bps_slip",
        "fold0_10bps_-1slip",
        "fold0_10bps_1e3slip",
        "fold0_10bps_.5slip",
    ],
)
def test_parse_fold_cost_key_refuses_and_names_the_key(bad: str) -> None:
    with pytest.raises(PartitionKeyError) as raised:
        parse_fold_cost_key(bad)

    assert repr(bad) in str(raised.value)


@pytest.mark.parametrize("bad", ["BTCUSDT", "", "BTCUSDT|x", "BTCUSDT|fold0_10bps", "BTCUSDT|-1"])
def test_a_malformed_slice_key_names_the_key(bad: str) -> None:
    with pytest.raises(PartitionKeyError) as raised:
        decode_slice_key(bad)

    assert repr(bad) in str(raised.value)


@settings(max_examples=60, deadline=None)
@given(
    chosen=st.lists(cryptos, min_size=1, max_size=3, unique=True),
    n_folds=st.integers(1, 5),
    costs=st.lists(costs_bps, min_size=1, max_size=4, unique=True),
    slippages=st.lists(slippages_bps, min_size=1, max_size=3, unique=True),
)
def test_sweep_has_one_result_key_per_crypto_fold_and_cost_basis(
    chosen: list[str], n_folds: int, costs: list[int], slippages: list[float]
) -> None:
    parts = sweep_partitions(tuple(chosen), tuple(chosen), n_folds, tuple(costs), tuple(slippages))

    expected = {
        ResultKey(crypto, fold_id, cost, slippage)
        for crypto in chosen
        for fold_id in range(n_folds)
        for cost in costs
        for slippage in slippages
    }
    result_keys = parts.results.get_partition_keys()
    assert len(result_keys) == len(chosen) * n_folds * len(costs) * len(slippages)
    assert set(parts.result_keys()) == expected
    assert parts.result_keys() == expected_result_keys(chosen, n_folds, costs, slippages)
    assert len(parts.slices.get_partition_keys()) == len(chosen) * n_folds
    assert parts.market.get_partition_keys() == chosen


def test_market_partitions_include_the_overlay_crypto() -> None:
    parts = sweep_partitions(("ETHUSDT", "BTCUSDT"), ("ETHUSDT",), 2, (10,), (2.0,))

    assert parts.market.get_partition_keys() == ["ETHUSDT", "BTCUSDT"]
    assert {k.crypto for k in parts.result_keys()} == {"ETHUSDT"}


def _upstream_slices(parts, result_partition_key: str) -> list[str]:
    downstream = parts.results.subset_with_partition_keys([result_partition_key])
    mapped = parts.slice_to_result.get_upstream_mapped_partitions_result_for_partitions(
        downstream, parts.results, parts.slices
    )
    assert mapped.required_but_nonexistent_subset.is_empty
    return [str(k) for k in mapped.partitions_subset.get_partition_keys()]


def _downstream_results(parts, slice_partition_key: str) -> set[str]:
    upstream = parts.slices.subset_with_partition_keys([slice_partition_key])
    mapped = parts.slice_to_result.get_downstream_partitions_for_partitions(
        upstream, parts.slices, parts.results
    )
    return {str(k) for k in mapped.get_partition_keys()}


@settings(max_examples=25, deadline=None)
@given(
    chosen=st.lists(cryptos, min_size=1, max_size=3, unique=True),
    n_folds=st.integers(1, 4),
    costs=st.lists(costs_bps, min_size=1, max_size=3, unique=True),
    slippages=st.lists(slippages_bps, min_size=1, max_size=2, unique=True),
)
def test_each_result_partition_reads_exactly_its_own_slice(
    chosen: list[str], n_folds: int, costs: list[int], slippages: list[float]
) -> None:
    parts = sweep_partitions(tuple(chosen), tuple(chosen), n_folds, tuple(costs), tuple(slippages))

    for result_key in parts.results.get_partition_keys():
        expected_slice = str(encode_slice_key(decode_result_key(result_key).slice_key))
        assert _upstream_slices(parts, result_key) == [expected_slice]

    for slice_key in parts.slices.get_partition_keys():
        the_slice = decode_slice_key(slice_key)
        assert _downstream_results(parts, slice_key) == {
            str(encode_result_key(ResultKey(the_slice.crypto, the_slice.fold_id, cost, slip)))
            for cost in costs
            for slip in slippages
        }


def test_a_user_finds_the_partition_of_a_crypto_fold_and_cost() -> None:
    cryptos = ("BTCUSDT", "ETHUSDT")
    parts = sweep_partitions(cryptos, cryptos, 2, (10, 30), (2.0, 2.5))

    wanted = encode_result_key(ResultKey("ETHUSDT", 1, 30, 2.5))

    assert parts.results.has_partition_key(wanted)
    assert str(wanted) in parts.results.get_partition_keys()
    assert str(wanted) == "ETHUSDT|fold1_30bps_2.5slip"
    for absent in (ResultKey("ETHUSDT", 2, 30, 2.5), ResultKey("ETHUSDT", 1, 15, 2.5)):
        assert not parts.results.has_partition_key(encode_result_key(absent))
    assert not parts.results.has_partition_key(encode_result_key(ResultKey("ETHUSDT", 1, 30, 3)))


@pytest.mark.parametrize("fold", ["²", "٣", "1.0", " 1", "1 "])
def test_a_fold_that_is_not_ascii_digits_is_refused_with_the_codec_error(fold: str) -> None:
    # "²".isdigit() is true and int("٣") is 3: neither is a fold the codec ever writes.
    with pytest.raises(PartitionKeyError) as raised:
        decode_slice_key(f"BTCUSDT|{fold}")

    assert repr(f"BTCUSDT|{fold}") in str(raised.value)


def test_a_fold_cost_with_non_ascii_digits_is_refused() -> None:
    with pytest.raises(PartitionKeyError, match="fold٣_10bps"):
        decode_result_key("BTCUSDT|fold٣_10bps")


def test_a_multi_key_of_the_other_asset_is_refused_with_the_codec_error() -> None:
    slice_key = encode_slice_key(SliceKey("BTCUSDT", 0))
    result_key = encode_result_key(ResultKey("BTCUSDT", 0, 10, 2.0))

    with pytest.raises(PartitionKeyError, match=r"BTCUSDT\|0") as as_result:
        decode_result_key(slice_key)
    with pytest.raises(PartitionKeyError, match=r"BTCUSDT\|fold0_10bps_2slip") as as_slice:
        decode_slice_key(result_key)

    assert FOLD_COST_DIM in str(as_result.value)
    assert FOLD_DIM in str(as_slice.value)


def test_a_range_is_listed_once_and_equals_dagsters_own_listing():
    parts = sweep_partitions(["BTCUSDT", "ETHUSDT"], ["BTCUSDT", "ETHUSDT"], 3, [10, 30], [1.0])
    keys = parts.results.get_partition_keys()
    whole = dg.PartitionKeyRange(keys[0], keys[-1])
    plain = dg.MultiPartitionsDefinition(
        {d.name: d.partitions_def for d in parts.results.partitions_defs}
    )

    first = parts.results.get_partition_keys_in_range(whole)

    assert first == plain.get_partition_keys_in_range(whole) and len(first) == 12
    assert parts.results.get_partition_keys_in_range(whole) is first  # listed once
    assert parts.results == plain  # Dagster sees the same partitions definition
    part = dg.PartitionKeyRange(keys[2], keys[5])
    assert parts.results.get_partition_keys_in_range(part) == plain.get_partition_keys_in_range(
        part
    )
