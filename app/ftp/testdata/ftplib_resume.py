"""A user uploads a big file with Python's ftplib, and after the upload was
cut, finishes it: SIZE tells how much the server kept, then REST + STOR
(storbinary's rest=) sends the rest. Explicit TLS, data connections resuming
the control connection's TLS session.

usage: ftplib_resume.py HOST PORT USER PASSWORD FILE NAME upload RATE
       ftplib_resume.py HOST PORT USER PASSWORD FILE NAME resume
upload sends FILE as NAME from its start at RATE bytes per second (a reader
that sleeps); resume asks SIZE NAME and sends the rest at full speed.
Prints "RESUMED AT <offset>" and "UPLOAD OK" at the end.
"""
import ftplib
import sys

from reusing_ftps import ReusingFTP_TLS, insecure_context
import time

host, port, user, password, src, name, mode = sys.argv[1:8]

ctx = insecure_context()



class SlowReader:
    """A file read at most rate bytes per second."""

    def __init__(self, f, rate):
        self.f, self.rate, self.sent, self.start = f, rate, 0, time.monotonic()

    def read(self, n):
        ahead = self.sent / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)
        b = self.f.read(n)
        self.sent += len(b)
        return b


ftp = ReusingFTP_TLS(context=ctx, timeout=60)
ftp.connect(host, int(port))
ftp.auth()
ftp.login(user, password)
ftp.prot_p()
ftp.voidcmd("TYPE I")

with open(src, "rb") as f:
    if mode == "upload":
        ftp.storbinary("STOR " + name, SlowReader(f, int(sys.argv[8])), blocksize=64 * 1024)
    else:
        offset = ftp.size(name)
        print("RESUMED AT", offset, flush=True)
        f.seek(offset)
        ftp.storbinary("STOR " + name, f, blocksize=256 * 1024, rest=offset)
ftp.quit()
print("UPLOAD OK")
