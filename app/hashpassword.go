package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

// hashPasswordCost is the bcrypt cost of `ftps3 hash-password`: about a
// quarter of a second per check here, which the login throttle and cache
// keep affordable.
const hashPasswordCost = 12

// hashPassword is `ftps3 hash-password`: it reads a password from the
// terminal (twice, not echoed) or, when stdin is not a terminal, from its
// first line, and prints a bcrypt hash for "password_hashed" in the user
// list. The password is never an argument: arguments end up in shell
// histories and process listings.
func hashPassword(stdin *os.File, out, errOut io.Writer) int {
	var password string
	if fd := int(stdin.Fd()); term.IsTerminal(fd) {
		fmt.Fprint(errOut, "Password: ")
		p1, err := term.ReadPassword(fd)
		fmt.Fprintln(errOut)
		if err != nil {
			fmt.Fprintln(errOut, "ftps3:", err)
			return 1
		}
		fmt.Fprint(errOut, "Again: ")
		p2, err := term.ReadPassword(fd)
		fmt.Fprintln(errOut)
		if err != nil || string(p1) != string(p2) {
			fmt.Fprintln(errOut, "ftps3: the passwords differ")
			return 1
		}
		password = string(p1)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			fmt.Fprintln(errOut, "ftps3:", err)
			return 1
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		fmt.Fprintln(errOut, "ftps3: empty password")
		return 1
	}
	if len(password) > 72 {
		fmt.Fprintln(errOut, "ftps3: bcrypt uses at most 72 bytes of a password; choose a shorter one")
		return 1
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), hashPasswordCost)
	if err != nil {
		fmt.Fprintln(errOut, "ftps3:", err)
		return 1
	}
	fmt.Fprintln(out, string(h))
	return 0
}
