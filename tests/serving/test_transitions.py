"""Version transitions in the manager, in process with a stand-in loader: what each policy
loads while an old version still has requests in flight (spec 4.2)."""

from xlaflow.serving.manager import Manager


class _Loaded:
    warmup_seconds = 0.0


def _manager(transition):
    loads = []

    def load(name, version, path):
        loads.append(version)
        return _Loaded()

    manager = Manager(load, max_load_retries=0, transition=transition)
    manager.keep_models(["m"])
    manager.add_model("m")
    return manager, loads


def _settle(manager, aspired):
    manager.set_aspired("m", {v: f"/m/{v}" for v in aspired})
    while manager.step():
        pass
    return {v: state for v, state, _, _ in manager.status("m")}


def test_resource_policy_loads_the_new_version_only_once_the_old_one_is_gone():
    # Spec 4.2: resource-preserving unloads every unaspired version first, then loads, so
    # memory peaks at one version. An old version still answering a request is not gone
    # yet: the new one must wait for it (it used to load beside it).
    manager, loads = _manager("resource")
    assert _settle(manager, [1]) == {1: "AVAILABLE"}
    handle = manager.acquire("m")
    handle.__enter__()
    assert _settle(manager, [2]) == {2: "START", 1: "UNLOADING"}
    assert loads == [1]
    handle.__exit__(None, None, None)  # the last request ends: v1 goes, v2 may load
    assert _settle(manager, [2]) == {2: "AVAILABLE", 1: "END"}
    assert loads == [1, 2]


def test_availability_policy_loads_the_new_version_beside_the_old_one():
    manager, loads = _manager("availability")
    assert _settle(manager, [1]) == {1: "AVAILABLE"}
    with manager.acquire("m"):
        # v2 loads while v1 serves; v1 then unloads once its request ends
        assert _settle(manager, [2]) == {2: "AVAILABLE", 1: "UNLOADING"}
    assert _settle(manager, [2]) == {2: "AVAILABLE", 1: "END"}
    assert loads == [1, 2]
