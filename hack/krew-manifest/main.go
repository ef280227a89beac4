// Command krew-manifest renders the krew manifest template
// (hack/plugin.yaml.tmpl) with the checksums of the release archives that
// hack/dist.sh listed in SHA256SUMS. Run by hack/dist.sh; not part of the
// plugin.
//
//	go run ./hack/krew-manifest -template hack/plugin.yaml.tmpl -sums dist/SHA256SUMS -version v0.1.0 > dist/plugin.yaml
//
// Every archive named kubectl-rexec_<version>_<os>_<arch>.tar.gz (or .zip)
// in SHA256SUMS becomes one platform, in the order of SHA256SUMS.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"
)

// Homepage is the project's page; release archives are downloaded from
// Homepage/releases/download/<version>/<archive>.
const Homepage = "https://github.com/kubectl-rexec/kubectl-rexec"

// Platform is one spec.platforms entry.
type Platform struct {
	OS, Arch, URI, SHA256, Bin string
}

// Data is what the template sees.
type Data struct {
	Version, Homepage string
	Platforms         []Platform
}

var (
	semver  = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
	sumLine = regexp.MustCompile(`^([0-9a-f]{64}) [ *](kubectl-rexec_(.+)_([a-z0-9]+)_([a-z0-9]+)\.(tar\.gz|zip))$`)
)

func main() {
	tmpl := flag.String("template", "hack/plugin.yaml.tmpl", "manifest template")
	sums := flag.String("sums", "dist/SHA256SUMS", "SHA256SUMS of the archives (sha256sum's format)")
	version := flag.String("version", "", "release version, vX.Y.Z[-pre]")
	baseURI := flag.String("base-uri", "", "where the archives are downloaded from (default "+Homepage+"/releases/download/VERSION)")
	flag.Parse()
	out, err := render(*tmpl, *sums, *version, *baseURI)
	if err != nil {
		fmt.Fprintln(os.Stderr, "krew-manifest:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}

func render(tmplPath, sumsPath, version, baseURI string) ([]byte, error) {
	if !semver.MatchString(version) {
		return nil, fmt.Errorf("-version %q is not a semantic version vX.Y.Z[-pre], which krew requires", version)
	}
	if baseURI == "" {
		baseURI = Homepage + "/releases/download/" + version
	}
	d := Data{Version: version, Homepage: Homepage}
	f, err := os.Open(sumsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := sumLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // not an archive of ours
		}
		sum, file, ver, goos, arch := m[1], m[2], m[3], m[4], m[5]
		if ver != version {
			return nil, fmt.Errorf("%s: %s is not of version %s", sumsPath, file, version)
		}
		if seen[goos+"/"+arch] {
			return nil, fmt.Errorf("%s: two archives for %s/%s", sumsPath, goos, arch)
		}
		seen[goos+"/"+arch] = true
		bin := "kubectl-rexec"
		if goos == "windows" {
			bin += ".exe"
		}
		d.Platforms = append(d.Platforms, Platform{OS: goos, Arch: arch, URI: strings.TrimSuffix(baseURI, "/") + "/" + file, SHA256: sum, Bin: bin})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(d.Platforms) == 0 {
		return nil, fmt.Errorf("%s lists no kubectl-rexec_%s_<os>_<arch> archive", sumsPath, version)
	}
	text, err := os.ReadFile(tmplPath)
	if err != nil {
		return nil, err
	}
	t, err := template.New(tmplPath).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
