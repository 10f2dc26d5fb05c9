"""A user checks with Python's ftplib that uploads arrived intact, without
downloading them: HASH after OPTS HASH (as FileZilla asks), then XSHA256,
XSHA1, XMD5 and MD5 (as WinSCP asks), each compared with hashlib's digest of
the bytes sent. Explicit TLS, data connections resuming the control
connection's TLS session.

usage: ftplib_hash.py HOST PORT USER PASSWORD
Prints each step; exits non-zero on the first failure, "HASH OK" at the end.
"""
import ftplib
import hashlib
import io
import os
import sys

from reusing_ftps import ReusingFTP_TLS, insecure_context

host, port, user, password = sys.argv[1:5]

ctx = insecure_context()



ftp = ReusingFTP_TLS(context=ctx, timeout=60)
ftp.encoding = "utf-8"
ftp.connect(host, int(port))
ftp.auth()
ftp.login(user, password)
ftp.prot_p()

files = {
    "empty.bin": b"",
    "it's  \"small\" 🚀.txt": os.urandom(1000),
    "big.bin": os.urandom(6 * 1024 * 1024 + 7),  # two parts on S3
}
for name, data in files.items():
    ftp.storbinary("STOR " + name, io.BytesIO(data))
print("stored", len(files), "files")

feat = ftp.sendcmd("FEAT")
assert "\n HASH SHA-256*;SHA-1;MD5\n" in feat, feat
assert "XCRC" not in feat and "XSHA512" not in feat and "CRC32" not in feat, feat
print("FEAT lists HASH")

resp = ftp.sendcmd("OPTS HASH SHA-256")
assert resp == "200 SHA-256", resp
for name, data in files.items():
    want = "213 SHA-256 0-%d %s %s" % (len(data), hashlib.sha256(data).hexdigest(), name)
    resp = ftp.sendcmd("HASH " + name)
    assert resp == want, (resp, want)
    for cmd, h in (("XSHA256", hashlib.sha256), ("XSHA1", hashlib.sha1), ("XSHA", hashlib.sha1),
                   ("XMD5", hashlib.md5), ("MD5", hashlib.md5)):
        resp = ftp.sendcmd(cmd + " " + name)
        assert resp == "250 " + h(data).hexdigest(), (cmd, name, resp)
    print("HASH and X commands agree with hashlib:", name)

big = files["big.bin"]
for alg, h in (("SHA-1", hashlib.sha1), ("MD5", hashlib.md5), ("SHA-256", hashlib.sha256)):
    assert ftp.sendcmd("OPTS HASH " + alg) == "200 " + alg
    resp = ftp.sendcmd("HASH big.bin")
    assert resp == "213 %s 0-%d %s big.bin" % (alg, len(big), h(big).hexdigest()), resp
print("OPTS HASH selects the algorithm")

try:
    ftp.sendcmd("XSHA256 big.bin 10 20")
    raise AssertionError("a range was answered")
except ftplib.error_perm as e:
    assert str(e).startswith("504 ") and "whole files only" in str(e), e
try:
    ftp.sendcmd("OPTS HASH SHA-512")
    raise AssertionError("SHA-512 selected")
except ftplib.error_perm as e:
    assert str(e).startswith("501 "), e
assert ftp.sendcmd("OPTS HASH") == "200 SHA-256"
print("errors")

ftp.quit()
print("HASH OK")
