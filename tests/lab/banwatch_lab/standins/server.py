"""The stand-ins' process: `python -m banwatch_lab.standins.server --dir DIR`, started by
`banwatch-lab standins up`, serving every stand-in its config.json lists until it is stopped."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from banwatch_lab.standins.google import AndroidStandin
from banwatch_lab.standins.graph import GraphStandin
from banwatch_lab.standins.http import serve


def main() -> int:
    parser = argparse.ArgumentParser(prog="banwatch_lab.standins.server")
    parser.add_argument("--dir", required=True)
    folder = parser.parse_args().dir
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    log_lock = threading.Lock()

    def log(line: str) -> None:
        with log_lock, open(os.path.join(folder, "requests.log"), "a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")

    google = config["google"]
    android = AndroidStandin(os.path.join(folder, "android.json"), google["token_url"], google["accounts"],
                             faults_file=os.path.join(folder, "faults.json"))
    graph = config["graph"]
    intune = GraphStandin(os.path.join(folder, "graph.json"), graph["tenant"], graph["clients"],
                          faults_file=os.path.join(folder, "faults.json"))
    tls = (config["certificate"], config["key"])
    servers = [serve((config["address"], google["port"]), android, tls, log),
               serve((config["address"], graph["port"]), intune, tls, log)]
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("ready", flush=True)
    stopped.wait()
    for server in servers:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
