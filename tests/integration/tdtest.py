"""Shared helpers for trackd's integration tests (run by ctest).

Each test starts the real build/trackd binary on loopback with an ephemeral
port and a temporary database, talks to it over TCP and UDP, and checks
replies and stored rows. Every wait is bounded; every process is stopped.
"""
import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

FAILURES = []


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--trackd", required=True)
    p.add_argument("--vectors", required=True)
    return p.parse_args()


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)
    return cond


def finish(name, passed):
    failed = len(FAILURES)
    print(f"{name}: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


class Server:
    """The real trackd on loopback: start, read its port, stop with SIGTERM."""

    def __init__(self, binary, db, *extra):
        self.log_path = db + ".log"
        self.log = open(self.log_path, "a")
        self.offset = self.log.tell()  # this run's lines start here
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--listen", "::", "--db", db, "--log-level",
             "debug", *extra], stdout=self.log, stderr=self.log)
        self.port = None
        deadline = time.time() + 10
        while time.time() < deadline and self.port is None:
            m = re.search(r"device port (\d+) open", self.text())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("trackd did not start:\n" + self.text())

    def text(self):
        with open(self.log_path) as f:
            f.seek(self.offset)
            return f.read()

    def wait_log(self, pattern, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.text()):
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def tcp(port, host="127.0.0.1", timeout=5.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_until(sock, terminator, timeout=5.0):
    """Reads until the buffer ends with terminator (bytes) or time runs out."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while not data.endswith(terminator) and time.time() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def recv_quiet(sock, wait=0.3):
    """Whatever arrives within `wait` seconds (for "no reply expected")."""
    sock.settimeout(wait)
    try:
        return sock.recv(4096)
    except (socket.timeout, BlockingIOError):
        return b""


def udp(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(5.0)
    return s


def db_rows(db, sql, params=()):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def tmpdir():
    return tempfile.mkdtemp(prefix="trackd-test-")
