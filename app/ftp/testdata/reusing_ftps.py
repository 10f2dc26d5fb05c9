"""What the ftplib scripts here share: a TLS context that accepts the test
server's self-signed certificate, and the usual FTP_TLS subclass whose data
connections resume the control connection's TLS session (Python's ftplib
opens them with a fresh session; servers that require reuse, vsftpd's
require_ssl_reuse and ftps3, refuse those)."""
import ftplib
import ssl


def insecure_context(version=None):
    """A client context for a self-signed certificate, pinned to version
    (an ssl.TLSVersion) when given."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


class ReusingFTP_TLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
