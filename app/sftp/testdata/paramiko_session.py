"""A paramiko SFTP session against the gateway, driven by clients_test.go.

usage: paramiko_session.py HOST PORT USER (password PW | key FILE) KNOWN_HOSTS WORKDIR

Uploads and downloads files of the sizes in WORKDIR (names up-*), compares
them byte for byte, makes and removes a directory, renames and removes a
file, lists, and checks that a wrong password is refused. Prints "OK" last.
"""
import hashlib
import os
import sys

import paramiko


def connect(host, port, user, known_hosts, password=None, key_file=None):
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kwargs = dict(hostname=host, port=port, username=user, allow_agent=False, look_for_keys=False, timeout=30)
    if password is not None:
        kwargs["password"] = password
    else:
        kwargs["key_filename"] = key_file
    client.connect(**kwargs)
    return client


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    host, port, user, method, secret, known_hosts, workdir = sys.argv[1:8]
    port = int(port)
    if method == "password":
        client = connect(host, port, user, known_hosts, password=secret)
    else:
        client = connect(host, port, user, known_hosts, key_file=secret)
    sftp = client.open_sftp()
    sftp.mkdir("py")
    for name in sorted(os.listdir(workdir)):
        if not name.startswith("up-"):
            continue
        src = os.path.join(workdir, name)
        sftp.put(src, "py/" + name)
        back = os.path.join(workdir, "back-" + name)
        sftp.get("py/" + name, back)
        if digest(src) != digest(back):
            raise SystemExit("round trip differs: " + name)
        if sftp.stat("py/" + name).st_size != os.path.getsize(src):
            raise SystemExit("size differs: " + name)
    sftp.mkdir("py/sub")
    sftp.rename("py/up-1", "py/sub/renamed")
    names = sorted(sftp.listdir("py"))
    print("listing:", names)
    if "sub" not in names or "up-1" in names:
        raise SystemExit("listing after rename: %r" % names)
    sftp.remove("py/sub/renamed")
    sftp.rmdir("py/sub")
    sftp.chdir("py")
    if sftp.normalize("../../..") != "/":
        raise SystemExit("normalize escaped the home: " + sftp.normalize("../../.."))
    sftp.close()
    client.close()

    try:
        connect(host, port, user, known_hosts, password="wrong " + secret)
    except paramiko.AuthenticationException:
        pass
    else:
        raise SystemExit("a wrong password was accepted")
    print("OK")


if __name__ == "__main__":
    main()
