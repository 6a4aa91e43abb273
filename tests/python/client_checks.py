"""The Python `kubernetes` client against a Ferrokube API server.

Usage: client_checks.py KUBECONFIG CHECK
Each CHECK is a function below; it raises AssertionError (exit 1) when the server misbehaves.
"""
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def core(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    return client.CoreV1Api()


def configmap(name, labels=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}), data={"k": name}
    )


def list_with_limit_and_continue(api):
    ns = "pylist"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    for i in range(25):
        api.create_namespaced_config_map(ns, configmap(f"cm-{i:02d}", {"batch": "py"}))
    names, token, pages = [], None, 0
    while True:
        page = api.list_namespaced_config_map(ns, limit=10, _continue=token, label_selector="batch=py")
        pages += 1
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3, f"expected 3 pages of at most 10, got {pages}"
    assert names == [f"cm-{i:02d}" for i in range(25)], names
    first = api.list_namespaced_config_map(ns, limit=10)
    # 25 labelled ConfigMaps + kube-root-ca.crt, 10 on the first page.
    assert first.metadata.remaining_item_count == 16, first.metadata.remaining_item_count


def watch_from_resource_version(api):
    ns = "default"
    api.create_namespaced_config_map(ns, configmap("w-before"))
    rv = api.list_namespaced_config_map(ns).metadata.resource_version
    api.create_namespaced_config_map(ns, configmap("w-after-1"))
    api.patch_namespaced_config_map("w-after-1", ns, {"data": {"k": "changed"}})
    api.delete_namespaced_config_map("w-before", ns)
    seen = []
    w = watch.Watch()
    for event in w.stream(api.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "w-after-1"), ("MODIFIED", "w-after-1"), ("DELETED", "w-before")], seen


def watch_from_a_compacted_version_is_gone(api):
    ns = "default"
    api.create_namespaced_config_map(ns, configmap("old-0"))
    old_rv = api.read_namespaced_config_map("old-0", ns).metadata.resource_version
    for i in range(1, 40):
        api.create_namespaced_config_map(ns, configmap(f"old-{i}"))
    w = watch.Watch()
    try:
        for _ in w.stream(api.list_namespaced_config_map, ns, resource_version=old_rv, timeout_seconds=5):
            pass
    except ApiException as e:
        assert e.status == 410, f"expected 410 Gone, got {e.status}: {e.reason}"
        return
    raise AssertionError("watching from a compacted resourceVersion did not fail with 410")


if __name__ == "__main__":
    kubeconfig, check = sys.argv[1], sys.argv[2]
    globals()[check](core(kubeconfig))
    print(f"{check}: ok")
