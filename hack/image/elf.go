package main

import (
	"bytes"
	"debug/elf"
	"fmt"
)

// elfMachine is the ELF machine of each architecture the image is built for.
var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// checkStaticELF refuses a binary that would not start in an image without a
// libc or a dynamic loader: not ELF, the wrong architecture, or dynamically
// linked (a gateway built with CGO_ENABLED=1, say).
func checkStaticELF(bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF executable (%v): build it with GOOS=linux", err)
	}
	defer f.Close()
	if want := elfMachine[arch]; f.Machine != want {
		return fmt.Errorf("built for %s, not %s: build it with GOARCH=%s", f.Machine, want, arch)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %s is not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (it needs a program interpreter): build it with CGO_ENABLED=0")
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("dynamically linked against %v: build it with CGO_ENABLED=0", libs)
	}
	return nil
}
