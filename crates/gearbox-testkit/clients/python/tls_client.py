"""A Gearman client over TLS written with nothing but Python's standard library (the ssl
module, i.e. OpenSSL), for gearboxd's TLS tests: it checks the server's certificate against
the CA given, submits a background job with the binary protocol, then asks for the admin
status on the same connection.

usage: tls_client.py HOST PORT CA_FILE
prints: JOB_CREATED <handle>, then: status <the tls-py line of the status>
"""
import socket
import ssl
import struct
import sys

SUBMIT_JOB_BG = 18
JOB_CREATED = 8


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("connection closed by the server")
        data += chunk
    return data


def main():
    host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            body = b"tls-py\0py-unique-1\0payload"
            tls.sendall(b"\0REQ" + struct.pack(">II", SUBMIT_JOB_BG, len(body)) + body)
            header = recv_exact(tls, 12)
            kind, size = struct.unpack(">II", header[4:])
            if header[:4] != b"\0RES" or kind != JOB_CREATED:
                raise SystemExit("unexpected reply %r" % header)
            print("JOB_CREATED " + recv_exact(tls, size).decode())
            tls.sendall(b"status\r\n")
            reply = b""
            while not reply.endswith(b".\n"):
                chunk = tls.recv(4096)
                if not chunk:
                    raise SystemExit("connection closed during the status")
                reply += chunk
            for line in reply.decode().splitlines():
                if line.startswith("tls-py\t"):
                    print("status " + line)


main()
