// go_tar_list prints what Go's archive/tar (the reader containerd, Docker and umoci use)
// sees in a tar archive: one JSON array per entry, [name, typeflag, size, sha256 of the
// data]. The tests compare the compose tar reader against it (tests/tar_sparse.rs).
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer f.Close()
	r := tar.NewReader(f)
	out := json.NewEncoder(os.Stdout)
	for {
		h, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sum := sha256.New()
		n, err := io.Copy(sum, r)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out.Encode([]interface{}{h.Name, string([]byte{h.Typeflag}), n, hex.EncodeToString(sum.Sum(nil))})
	}
}
