"""Resampler quality against python-soxr's default HQ, measured the same way in
the same run (benches/audio_quality.py): passband ripple, stopband attenuation,
THD+N over a stepped sine sweep, rejection at the stopband edge. Prints the
table (pytest -s to see it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

soxr = pytest.importorskip("soxr")


def _load_quality() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benches" / "audio_quality.py"
    spec = importlib.util.spec_from_file_location("audio_quality", path)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["audio_quality"] = mod
    spec.loader.exec_module(mod)
    return mod


aq = _load_quality()
MARGIN_DB = 1.0  # measurement noise allowance


@pytest.mark.parametrize(("a", "b"), aq.PAIRS)
def test_hq_at_least_soxr_hq(a: int, b: int) -> None:
    ours = aq.measure(aq.ours_fn("hq"), a, b)
    ref = aq.measure(aq.soxr_fn("HQ"), a, b)
    print(
        f"\n{a}->{b}: ripple ours {ours.ripple_db:.5f} / soxr {ref.ripple_db:.5f} dB; "
        f"stopband {ours.stopband_db:.1f} / {ref.stopband_db:.1f} dB; "
        f"THD+N min {ours.snr_min_db:.1f} / {ref.snr_min_db:.1f} dB; "
        f"edge {ours.edge_db:.1f} / {ref.edge_db:.1f} dB"
    )
    assert ours.ripple_db <= max(ref.ripple_db, 0.001)
    assert ours.stopband_db >= ref.stopband_db - MARGIN_DB
    assert ours.snr_min_db >= ref.snr_min_db - MARGIN_DB
    assert ours.snr_median_db >= ref.snr_median_db - MARGIN_DB
    assert ours.edge_db >= ref.edge_db - MARGIN_DB


@pytest.mark.parametrize(("a", "b"), [(8000, 24000), (24000, 16000), (44100, 24000)])
def test_low_latency_is_beyond_int16(a: int, b: int) -> None:
    q = aq.measure(aq.ours_fn("low_latency"), a, b, passband=0.8)
    assert q.ripple_db < 0.001
    assert q.stopband_db > 98  # int16 quantisation noise is ~ -98 dB for a full-scale sine
    assert q.snr_min_db > 98
