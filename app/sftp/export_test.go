package sftp

// ShellWords is shellWords, for the table test of command-line parsing.
var ShellWords = shellWords
