"""Port-forwards to a pod with the Python client (WebSocket channels, `v4.channel.k8s.io`):
sends one HTTP request to the pod's port and prints the answer, then what the port's error
channel said, if anything, after a line `--- error`.

Usage: port_forward.py KUBECONFIG POD PORT
"""

import sys
import time

from kubernetes import client, config
from kubernetes.stream import portforward


def main():
    kubeconfig, pod, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config.load_kube_config(kubeconfig)
    api = client.CoreV1Api()
    forward = portforward(
        api.connect_get_namespaced_pod_portforward, pod, "default", ports=str(port)
    )
    sock = forward.socket(port)
    sock.setblocking(True)
    sock.settimeout(20)
    answer = b""
    try:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except (BrokenPipeError, ConnectionResetError):
        # A port nothing listens on: the client closes its end as soon as the error channel
        # speaks, which can be before the request is sent.
        pass
    # The error channel's message may arrive just after the data channel ends.
    deadline = time.monotonic() + 5
    while forward.error(port) is None and forward.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    print(answer.decode(errors="replace"))
    print("--- error")
    print(forward.error(port) or "")


if __name__ == "__main__":
    main()
