"""h02 devices on the real trackd: text and binary frames over TCP and UDP on
the one device port, next to a device of another protocol; the exact answers
(V4,V1 and V4,NBR with the server's UTC time, heartbeat echoes, nothing for
binary records) and the stored rows with the right device ids."""
import tdtest as t
from families import neighbour, stored_events, stored_fixes, stored_types
from families import h02_v4_reply as v4_reply

a, db = t.workspace()

ID = "4106000001"
IMEI = "865000000000002"
V1 = f"*HQ,{ID},V1,121314,A,2234.5678,N,11345.6789,E,012.30,045,010224,FFFFFBFF#".encode()
V1_SOS = f"*HQ,{ID},V1,121414,A,2234.6000,N,11345.7000,E,000.00,045,010224,FFFBFBFF#".encode()
NBR = f"*HQ,{ID},NBR,121514,460,0,0,1,9338,3692,20,010224,FFFFFBFF#".encode()
HTBT = f"*HQ,{IMEI},HTBT,80#".encode()
# The 32-byte binary record: id 4106000003, 12:16:14 01.02.24, 22 34.5678' N
# 113 45.6789' E, power step 4, 12 knots, course 45, status FFFFFBFF.
BINARY = bytes.fromhex("244106000003121614010224223456780411345678" "9e012045fffffbffff0007")
LAT, LON = 22 + 34.5678 / 60, 113 + 45.6789 / 60
results = {}


def dev_text_tcp(port):
    s = t.tcp(port)
    s.sendall(V1)
    r1 = t.recv_until(s, b"#")
    s.sendall(V1_SOS + NBR)  # two frames in one write: two answers, in order
    both = t.recv_count(s, b"#", 2)
    r2, _, r3 = both.partition(b"#")
    r2 += b"#"
    # A binary record of the same unit: stored, not answered.
    s.sendall(BINARY.replace(bytes.fromhex("4106000003"), bytes.fromhex(ID)))
    r4 = t.recv_quiet(s, 0.5)
    s.close()
    results["text tcp"] = (v4_reply(r1, ID, "V1") and v4_reply(r2, ID, "V1") and
                           v4_reply(r3, ID, "NBR") and r4 == b"", (r1, r2, r3, r4))


def dev_binary_split(port):
    s = t.tcp(port)
    t.send_split(s, BINARY, 5, 0.01)  # detected and framed across reads
    r = t.recv_quiet(s, 0.5)
    s.send(HTBT.replace(IMEI.encode(), b"4106000003"))
    r2 = t.recv_until(s, b"#")
    s.close()
    results["binary tcp"] = (r == b"" and r2 == b"*HQ,4106000003,HTBT#", (r, r2))


def dev_udp(port):
    u = t.udp()
    u.sendto(HTBT, ("127.0.0.1", port))
    r1, _ = u.recvfrom(4096)
    u.sendto(V1.replace(ID.encode(), IMEI.encode()), ("127.0.0.1", port))
    r2, _ = u.recvfrom(4096)
    u.close()
    results["udp"] = (r1 == b"*HQ," + IMEI.encode() + b",HTBT#" and v4_reply(r2, IMEI, "V1"),
                      (r1, r2))


t.serve_devices(a, db, results, dev_text_tcp, dev_binary_split, dev_udp,
                neighbour(results, "watch next to h02", uid="3000000009"))

devices = t.stored_devices(db)
t.check(devices.get(ID) == "h02" and devices.get(IMEI) == "h02" and
        devices.get("4106000003") == "h02" and devices.get("3000000009") == "watch", devices)
types = stored_types(db, ID)
t.check(stored_fixes(db, ID, LAT, LON) == 2, f"{ID}: {types}")  # V1 and the binary record
for dev in ("4106000003", IMEI):
    t.check(stored_fixes(db, dev, LAT, LON) == 1, f"{dev}: {stored_types(db, dev)}")
t.check(types.count("position") == 3, types)
sos = stored_events(db, ID, "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("h02")
