"""A paramiko client finishing a cut upload, driven by resume_test.go.

usage: paramiko_resume.py HOST PORT USER PASSWORD KNOWN_HOSTS LOCAL REMOTE

Asks the server how much of REMOTE it holds (stat), opens it to append
(paramiko then asks the open file's size, FSTAT, and writes from there),
sends the rest of LOCAL, and prints "OK resumed at N" last.
"""
import os
import sys

import paramiko


def main():
    host, port, user, password, known_hosts, local, remote = sys.argv[1:8]
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(hostname=host, port=int(port), username=user, password=password,
                   allow_agent=False, look_for_keys=False, timeout=30)
    sftp = client.open_sftp()
    offset = sftp.stat(remote).st_size
    if offset >= os.path.getsize(local):
        raise SystemExit("the server holds %d bytes, not less than the file" % offset)
    with open(local, "rb") as src, sftp.open(remote, "ab") as dst:
        if dst.tell() != offset:
            raise SystemExit("the open file is at %d, stat said %d" % (dst.tell(), offset))
        dst.set_pipelined(True)
        src.seek(offset)
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    client.close()
    print("OK resumed at", offset)


if __name__ == "__main__":
    main()
