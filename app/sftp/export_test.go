package sftp

// ShellWords is shellWords, for the table test of command-line parsing.
var ShellWords = shellWords

// FastWrites counts the WRITE requests the upload fast path took.
func FastWrites(s *Server) int64 { return s.fastWrites.Load() }

// FastReads counts the READ requests the download fast path took.
func FastReads(s *Server) int64 { return s.fastReads.Load() }
