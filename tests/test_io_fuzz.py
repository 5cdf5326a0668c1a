"""Fuzzing the spectra reader (issue 11): over generated CSVs (random headers, units, separators,
cells, encodings) the reader raises nothing but SocspecInputError, and every file it accepts gives
the same samples, wavelengths, range and kind through `socspec inspect --json`.

A longer run with counts per outcome: ``python benchmarks/fuzz_reader.py --n 5000 --json OUT``."""
from __future__ import annotations

from _fuzz_spectra import check_file, spectra_files
from hypothesis import HealthCheck, given, settings


@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spectra_files())
def test_reader_refuses_only_with_input_errors_and_round_trips_inspect(tmp_path, case):
    name, data, options = case
    path = tmp_path / name
    path.write_bytes(data)
    check_file(path, options)
