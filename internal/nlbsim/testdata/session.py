"""One partner session through the simulated load balancer: upload a file,
download it back, compare; passive data connections by PASV or EPSV.

usage: session.py HOST PORT USER PASSWORD pasv|epsv UPLOAD_FILE NAME DOWNLOAD_FILE
Exits non-zero on the first failure (an FTP error or a cut connection).
"""
import ftplib
import ssl
import sys

host, port, user, password, mode, upload, name, download = sys.argv[1:9]

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


class SessionReuse(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session, which
    ftps3 requires (FTP_TLS_SESSION_REUSE=required); EPSV on request (ftplib
    sends it only over IPv6)."""

    def makepasv(self):
        if mode == "epsv":
            return self.sock.getpeername()[0], ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())[1]
        return super().makepasv()

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


ftp = SessionReuse(context=ctx, timeout=60)
ftp.connect(host, int(port))
ftp.auth()
ftp.login(user, password)
ftp.prot_p()
with open(upload, "rb") as f:
    ftp.storbinary("STOR " + name, f)
with open(download, "wb") as f:
    ftp.retrbinary("RETR " + name, f.write)
ftp.quit()
