"""Assets that say what they are: kinds, owners, layer tags, the result tables' column schemas
(held equal to the migrated catalog), and each materialisation's row count and table name."""

import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from econ_obs.definitions import build_definitions
from econ_obs.defs.table_metadata import COLUMN_SCHEMA, ROW_COUNT, TABLE_NAME
from econ_obs_tests.conftest import run_small_sweep

EXPECTED = {
    # asset: (kinds, layer, table)
    "market_bars": ({"pandas"}, "ingest", None),
    "feature_slice": ({"pandas"}, "features", None),
    "baseline_rows": ({"postgres"}, "results", "finetune_baselines"),
    "model_results": ({"postgres"}, "results", "finetune_results"),
    "sweep_report": ({"html", "matplotlib"}, "report", None),
}
# information_schema.columns.data_type -> the type the column schema names
CATALOG_TYPES = {
    "bigint": "bigint",
    "integer": "integer",
    "text": "text",
    "double precision": "float8",
    "timestamp with time zone": "timestamptz",
    "jsonb": "jsonb",
    "ARRAY": "float8[]",
}


def specs(config) -> dict[str, dg.AssetSpec]:
    defs = build_definitions(config, resources={})
    return {
        key.path[-1]: spec
        for assets_def in defs.assets
        for key, spec in assets_def.specs_by_key.items()
    }


def test_every_asset_declares_its_kinds_owner_layer_and_sweep(small_config):
    by_name = specs(small_config)

    assert set(by_name) == set(EXPECTED)
    for name, (kinds, layer, table) in EXPECTED.items():
        spec = by_name[name]
        assert spec.kinds == kinds, name
        assert list(spec.owners) == ["team:quant-research"], name
        assert spec.tags["layer"] == layer, name
        assert spec.metadata["econ_obs/run_id"] == "test_run", name
        assert spec.metadata["econ_obs/strategy"] == "test_strategy", name
        assert spec.metadata.get(TABLE_NAME) == table, name
        assert (COLUMN_SCHEMA in spec.metadata) == (table is not None), name


def test_the_report_warns_after_a_missed_night_and_fails_after_two(small_config):
    policy = specs(small_config)["sweep_report"].freshness_policy

    assert policy == dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=50), warn_window=timedelta(hours=26)
    )
    assert all(
        spec.freshness_policy is None
        for name, spec in specs(small_config).items()
        if name != "sweep_report"
    )


def test_the_column_schemas_match_the_migrated_tables(small_config, engine):
    by_name = specs(small_config)

    for name in ("baseline_rows", "model_results"):
        table = EXPECTED[name][2]
        with engine.connect() as connection:
            catalog = connection.execute(
                sa.text(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name = :table "
                    "ORDER BY ordinal_position"
                ),
                {"table": table},
            ).all()
        declared = by_name[name].metadata[COLUMN_SCHEMA].columns
        assert [(c.name, c.type, c.constraints.nullable) for c in declared] == [
            (row[0], CATALOG_TYPES[row[1]], row[2] == "YES") for row in catalog
        ], table


def test_each_result_materialisation_names_its_table_rows_and_comparison(
    small_config, sweep_resources, instance, engine
):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        run_small_sweep(small_config, sweep_resources, instance)
    ours = [
        w for w in caught if "econ_obs" in w.filename and issubclass(w.category, DeprecationWarning)
    ]
    assert ours == []  # e.g. AssetExecutionContext.run_id, deprecated in 1.13

    def latest(asset: str) -> dict:
        records = instance.fetch_materializations(
            dg.AssetKey(["test_run", asset]), limit=100
        ).records
        return {r.partition_key: r.asset_materialization.metadata for r in records}

    results, baselines = latest("model_results"), latest("baseline_rows")
    assert len(results) == len(baselines) == 8
    key = "ETHUSDT|fold0_10bps_1slip"
    assert results[key][ROW_COUNT].value == len(small_config.variants)
    assert results[key][TABLE_NAME].value == "finetune_results"
    assert baselines[key][ROW_COUNT].value == 3
    assert baselines[key][TABLE_NAME].value == "finetune_baselines"

    with engine.connect() as connection:
        stored = dict(
            connection.execute(
                sa.text(
                    "SELECT variant, net_return FROM finetune_results WHERE crypto = 'ETHUSDT' "
                    "AND fold_id = 0 AND cost_bps = 10 UNION ALL SELECT baseline_type, "
                    "net_return FROM finetune_baselines WHERE crypto = 'ETHUSDT' AND fold_id = 0 "
                    "AND cost_bps = 10"
                )
            ).all()
        )
    table = results[key]["comparison"].value
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == [
        "row_type",
        "name",
        "net_return",
        "excess_over_buy_and_hold",
    ]
    shown = {r.data["name"]: r.data for r in table.records}
    assert set(shown) == set(stored)
    for name, net in stored.items():
        assert shown[name]["net_return"] == round(net, 6)
        assert shown[name]["row_type"] == ("variant" if name.startswith("ridge") else "baseline")
        expected_excess = round(net - stored["buy_and_hold"], 6)
        assert abs(shown[name]["excess_over_buy_and_hold"] - expected_excess) < 1e-6


OWN_FILES = sorted(
    str(path.relative_to(Path(__file__).resolve().parents[1]))
    for path in (Path(__file__).resolve().parents[1] / "econ_obs").rglob("*.py")
)


# The one module allowed Dagster's private modules: the event log storage that batches planned
# events subclasses dagster-postgres' and checks, when it is built, that what it calls is still
# there (its docstring says why and how to go back to plain dagster-postgres).
PRIVATE_DAGSTER_ALLOWED = {"econ_obs/store/dagster_event_log.py"}


def test_the_dagster_layer_uses_public_apis_only():
    root = Path(__file__).resolve().parents[1]
    assert PRIVATE_DAGSTER_ALLOWED <= set(OWN_FILES)  # an exception that names a real file
    for name in OWN_FILES:
        text = (root / name).read_text(encoding="utf-8")
        assert name in PRIVATE_DAGSTER_ALLOWED or "dagster._" not in text, name
        assert "get_event_records" not in text, name
        assert "catch_warnings" not in text, name
