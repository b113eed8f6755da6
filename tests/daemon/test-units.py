#!/usr/bin/python3
"""test-units.py SERVICE SOCKET: the systemd user units say what issue 4
asks (socket path and mode, Type=notify, the hardening) and pass
`systemd-analyze verify` when it is installed."""

import os
import re
import shutil
import subprocess
import sys
import tempfile


def keys(path):
    d = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                k, v = line.split("=", 1)
                d.setdefault(k, []).append(v)
    return d


def main():
    service, sock = sys.argv[1], sys.argv[2]
    s, k = keys(service), keys(sock)
    errors = []
    want_s = {"Type": "notify", "PrivateNetwork": "yes", "ProtectSystem": "strict",
              "ProtectHome": "read-only", "NoNewPrivileges": "yes",
              "RestrictAddressFamilies": "AF_UNIX", "MemoryDenyWriteExecute": "yes",
              "LockPersonality": "yes", "StateDirectory": "polytrans"}
    for key, val in want_s.items():
        if s.get(key) != [val]:
            errors.append("service: %s=%s expected, found %r" % (key, val, s.get(key)))
    if not s.get("ExecStart", [""])[0].split()[0].endswith("/polytransd"):
        errors.append("service: ExecStart %r" % s.get("ExecStart"))
    if re.search(r"@[A-Za-z_]+@", open(service).read()):
        errors.append("service: an @variable@ was not substituted")
    for key, val in {"ListenStream": "%t/polytrans.sock", "SocketMode": "0600"}.items():
        if k.get(key) != [val]:
            errors.append("socket: %s=%s expected, found %r" % (key, val, k.get(key)))
    sa = shutil.which("systemd-analyze")
    if sa and not errors:
        with tempfile.TemporaryDirectory() as d:
            text = open(service).read().replace(s["ExecStart"][0].split()[0], "/bin/true")
            with open(os.path.join(d, "polytransd.service"), "w") as f:
                f.write(text)
            shutil.copy(sock, os.path.join(d, "polytransd.socket"))
            p = subprocess.run([sa, "verify", "--man=no", "polytransd.socket",
                                "polytransd.service"], cwd=d, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            if p.returncode != 0 or p.stdout.strip():
                errors.append("systemd-analyze verify:\n" + p.stdout.decode())
    elif not sa:
        print("systemd-analyze not installed: only the keys were checked")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
