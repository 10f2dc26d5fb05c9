"""A user's session with Python's ftplib against ftps3.

usage: ftplib_session.py HOST PORT USER PASSWORD explicit|implicit TLS1.2|TLS1.3 UPLOAD_FILE
Prints the name of each step; exits non-zero on the first failure.
"""
import ftplib
import hashlib
import io
import socket
import ssl
import sys

from reusing_ftps import ReusingFTP_TLS, insecure_context

host, port, user, password, mode, tls_version, upload = sys.argv[1:8]
port = int(port)

ctx = insecure_context(ssl.TLSVersion.TLSv1_2 if tls_version == "TLS1.2" else ssl.TLSVersion.TLSv1_3)



class ImplicitFTP_TLS(ReusingFTP_TLS):
    """ftplib speaks explicit TLS only: wrap the socket right after connect."""

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        if host:
            self.host = host
        if port:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        self.af = self.sock.family
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


cls = ImplicitFTP_TLS if mode == "implicit" else ReusingFTP_TLS
ftp = cls(context=ctx, timeout=30)
ftp.encoding = "utf-8"
ftp.connect(host, port)
print("connected", ftp.welcome)
if mode == "explicit":
    ftp.auth()
ftp.login(user, password)
ftp.prot_p()
print("logged in")

data = open(upload, "rb").read()
name = "it's  \"quoted\" 🚀.bin"
ftp.mkd("py dir")
ftp.cwd("py dir")
ftp.storbinary("STOR " + name, io.BytesIO(data))
print("stored")
names = [n for n, facts in ftp.mlsd()]
assert names == [name], names
lines = []
ftp.retrlines("LIST", lines.append)
assert len(lines) == 1 and lines[0].startswith("-rw-r--r--") and lines[0].endswith(name), lines
assert ftp.size(name) == len(data), ftp.size(name)
out = io.BytesIO()
ftp.retrbinary("RETR " + name, out.write)
assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest(), "download differs"
print("retrieved")
ftp.rename(name, "renamed.bin")
ftp.cwd("/")
ftp.rename("py dir", "py moved")
assert ftp.nlst("py moved") in (["renamed.bin"], ["py moved/renamed.bin"]), ftp.nlst("py moved")
ftp.delete("py moved/renamed.bin")
ftp.rmd("py moved")
assert ftp.nlst() == [], ftp.nlst()
ftp.quit()
print("SESSION OK")
