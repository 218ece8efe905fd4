

def test_speedup_resolution_is_stated():
    from types import SimpleNamespace

    from optbench.plan import record_steps
    from optbench.report.tables import _resolution

    log = SimpleNamespace(recorded_steps=record_steps(1000, "log", 40))
    assert _resolution(log) == ", so speed-ups below 1.2x are not resolved"
    assert _resolution(SimpleNamespace(recorded_steps=np.arange(1001))) == ""
