"""The benchmark's report: targets judged as ratios, the table, the update of its page.

The benchmark itself is run by ``make bench``, not by the test suite (it times things); these
tests check that what it prints and writes says what the figures say.
"""

from __future__ import annotations

import copy

import pytest

from benchmarks.benchmark import TABLE_END, TABLE_START, markdown, targets, update_page


def _serving(p50: float, rps: float) -> dict:
    figures = {
        "latency": {"p50_ms": p50, "p95_ms": p50 * 1.2, "p99_ms": p50 * 1.5},
        "cold_start": {"to_ping_s": 3.5, "to_prediction_s": 3.9},
        "worker_memory_mb_1_workers": [250.0],
        "worker_memory_mb_2_workers": [12.0, 251.0, 252.0],
    }
    for workers in (1, 2):
        for clients in (1, 4, 16):
            figures[f"rps_{clients}_clients_{workers}_workers"] = rps * (
                workers if clients > 1 else 1
            )
    return figures


@pytest.fixture
def results() -> dict:
    """Figures that meet every target."""
    return {
        "machine": {"date": "2026-11-25", "cpu": "Some CPU", "cores": 2, "memory_gb": 23.5,
                    "python": "3.11.7", "mlflow": "3.17.2", "scikit-learn": "1.9.1",
                    "pandas": "3.1.1"},
        "serving": {"floor": _serving(2.0, 450), "usual": _serving(19.0, 50),
                    "ours": _serving(2.6, 300), "layer": _serving(2.8, 280)},
        "csv": {"rows": 10_000, "http_seconds": 0.15, "layer_http_seconds": 0.16,
                "in_process_seconds": 0.12},
        "shadow": {"layer": {"p50_ms": 2.8, "rps_1_client": 330},
                   "shadow": {"p50_ms": 2.9, "rps_1_client": 320},
                   "shadow_uri": "models:/titanic/2", "shadow_lines": 4000},
        "in_process": [
            {"rows": 1, "ours_rows_per_s": 1200, "bare_rows_per_s": 2000, "ratio": 0.6},
            {"rows": 100_000, "ours_rows_per_s": 90_000, "bare_rows_per_s": 95_000, "ratio": 0.95},
        ],
        "mlflow_run": {"wall_seconds": 20.0, "profiled_seconds": 28.0, "logging_seconds": 4.2,
                       "logging_share": 0.15, "mlflow_import_seconds": 1.7},
        "accuracy": {"ours_cv_accuracy": 0.855, "ours_holdout_accuracy": 0.793,
                     "usual_holdout_accuracy": 0.793, "holdout_rows": 179},
        "pipeline_loading": {"skops_seconds": 0.21, "pickle_seconds": 0.04, "skops_kb": 3100.0,
                             "pickle_kb": 2900.0},
        "version_checking": {"download_and_check_seconds": 0.12, "hash_seconds": 0.03,
                             "files": 20},
        "batch": {"rows": 1_000_000, "spark_master": "local[2]", "identical": True,
                  "pandas": {"seconds": 20.0, "rows_per_s": 50_000, "driver_peak_mb": 420},
                  "spark_csv": {"seconds": 12.0, "rows_per_s": 83_000, "driver_peak_mb": 290},
                  "spark_parquet": {"seconds": 10.0, "rows_per_s": 100_000,
                                    "driver_peak_mb": 290}},
    }  # fmt: skip


def test_every_target_met(results):
    assert all(met for _, _, met in targets(results))


@pytest.mark.parametrize(
    ("path", "value", "target"),
    [
        (("serving", "ours", "latency", "p50_ms"), 3.1, "ours <= 1.5 x floor"),
        (("serving", "usual", "latency", "p50_ms"), 2.5, "ours <= usual"),
        (("csv", "http_seconds"), 0.19, "CSV over HTTP"),
        (("serving", "ours", "rps_16_clients_2_workers"), 450, "2 workers"),
        (("serving", "ours", "cold_start", "to_prediction_s"), 5.2, "(`mlflow models serve`)"),
        (("serving", "ours", "worker_memory_mb_2_workers"), [12.0, 401.0], "memory"),
        (("serving", "layer", "latency", "p50_ms"), 3.1, "layer <= 1.5 x floor"),
        (("serving", "layer", "rps_16_clients_2_workers"), 400, "layer's 2 workers"),
        (("serving", "layer", "cold_start", "to_prediction_s"), 5.2, "(the layer"),
        (("serving", "layer", "worker_memory_mb_1_workers"), [401.0], "memory"),
        (("batch", "spark_csv", "rows_per_s"), 70_000, "Spark local[2] >= 1.5 x pandas"),
        (("batch", "identical"), False, "bit for bit"),
        (("shadow", "shadow", "p50_ms"), 3.1, "a shadow scoring every record"),
    ],
)
def test_each_target_is_judged_on_its_own_ratio(results, path, value, target):
    broken = copy.deepcopy(results)
    container = broken
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value

    missed = [what for what, _, met in targets(broken) if not met]

    assert len(missed) == 1
    assert target in missed[0]


def test_in_process_target_reads_the_largest_batch(results):
    results["in_process"][-1]["ratio"] = 0.85

    missed = [what for what, _, met in targets(results) if not met]

    assert missed == ["in-process, 100,000 rows: ours >= 0.9 x bare pipeline"]


def test_markdown_shows_the_machine_every_figure_and_the_verdicts(results):
    results["serving"]["ours"]["latency"]["p50_ms"] = 3.5

    table = markdown(results)

    assert "Some CPU, 2 cores, 23.5 GB" in table
    assert "| single record, p50 (ms) | 2.00 | 19.00 | 3.50 | 2.80 |" in table
    assert "| requests/s, 16 clients, 2 workers | 900 | 100 | 600 | 560 |" in table
    assert "0.15 s over HTTP (0.16 s through the layer, logging every row)" in table
    assert "| 100,000 rows | 90,000 | 95,000 | 0.95 |" in table
    assert "| single record p50: ours <= 1.5 x floor | 1.75 x | **no** |" in table
    assert "15% of its time (4.2 of 28.0 s)" in table
    assert "210 ms from its skops file (3,100 KB)" in table
    assert "takes 40 ms (2,900 KB)" in table
    assert "| without a shadow | 2.80 | 330 |" in table
    assert "| with `models:/titanic/2` in shadow | 2.90 | 320 |" in table
    assert (
        "| single record p50, a shadow scoring every record: layer <= 1.1 x without "
        "| 1.04 x | yes |" in table
    )


def test_update_page_replaces_only_the_table_between_the_markers(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(f"# Title\n\nbefore\n{TABLE_START}\nold table\n{TABLE_END}\nafter\n")

    update_page("| new | table |\n", page)

    assert page.read_text() == (
        f"# Title\n\nbefore\n{TABLE_START}\n| new | table |\n{TABLE_END}\nafter\n"
    )


def test_the_digest_check_has_its_own_row(results):
    report = markdown(results)
    assert "Checking the version's 20 files against its digest" in report
    assert "120 ms to download and check them, of which 30 ms hashing" in report
