package validation

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// ImageReference is a parsed container image reference,
// [domain[:port]/]path[:tag][@digest], e.g. "registry.example.com:5000/team/app:1.2@sha256:…".
type ImageReference struct {
	// Domain is the registry host (and port), "" when the reference names none.
	Domain string
	// Path is the repository path: "nginx", "library/nginx", "team/app".
	Path string
	// Tag is "" when the reference has none.
	Tag string
	// Digest is "algorithm:hex", "" when the reference has none.
	Digest string
}

// Name is the repository name: Domain/Path, or Path alone.
func (r ImageReference) Name() string {
	if r.Domain == "" {
		return r.Path
	}
	return r.Domain + "/" + r.Path
}

// The grammar of Docker's distribution/reference.
var (
	imagePathComponentRegexp = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	imageDomainRegexp        = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	imageTagRegexp           = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	imageDigestAlgRegexp     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*$`)
	imageIdentifierRegexp    = regexp.MustCompile(`^[a-f0-9]{64}$`)
	lowerHexRegexp           = regexp.MustCompile(`^[a-f0-9]+$`)
)

// imageNameMaxLength is the longest repository name (domain and path) a reference may have.
const imageNameMaxLength = 255

var digestHexLengths = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// ParseImageReference parses ref with the Docker reference grammar: an optional registry
// host[:port] (a first component containing '.' or ':', or "localhost", or with upper-case
// letters), a lower-case repository path of components separated by '/', an optional tag
// matching [\w][\w.-]{0,127}, and an optional digest (sha256:<64 hex>, sha384 or sha512).
// Nothing is normalized: "nginx" stays "nginx" (no docker.io/library).
func ParseImageReference(ref string) (ImageReference, error) {
	fail := func(format string, args ...any) (ImageReference, error) {
		return ImageReference{}, fmt.Errorf("invalid image reference %q: %s", ref, fmt.Sprintf(format, args...))
	}
	if ref == "" {
		return fail("must not be empty")
	}
	if strings.IndexFunc(ref, unicode.IsSpace) >= 0 {
		return fail("must not contain whitespace")
	}
	var r ImageReference
	rest := ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest, r.Digest = rest[:i], rest[i+1:]
		alg, hex, ok := strings.Cut(r.Digest, ":")
		switch {
		case r.Digest == "":
			return fail("digest after '@' must not be empty")
		case !ok || !imageDigestAlgRegexp.MatchString(alg):
			return fail("digest %q must be of the form algorithm:hex, e.g. sha256:<64 hex digits>", r.Digest)
		case digestHexLengths[alg] == 0:
			return fail("unsupported digest algorithm %q (supported: sha256, sha384, sha512)", alg)
		case len(hex) != digestHexLengths[alg] || !lowerHexRegexp.MatchString(hex):
			return fail("%s digest must be %d lower-case hexadecimal digits", alg, digestHexLengths[alg])
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i > strings.LastIndexByte(rest, '/') {
		rest, r.Tag = rest[:i], rest[i+1:]
		if r.Tag == "" {
			return fail("tag after ':' must not be empty")
		}
		if !imageTagRegexp.MatchString(r.Tag) {
			return fail("tag %q must start with a letter, digit or '_' and contain at most 128 letters, digits, '_', '.' or '-'", r.Tag)
		}
	}
	if rest == "" {
		return fail("repository name must not be empty")
	}
	if len(rest) > imageNameMaxLength {
		return fail("repository name must not be more than %d characters", imageNameMaxLength)
	}
	if imageIdentifierRegexp.MatchString(rest) {
		return fail("repository name cannot be a 64-character hexadecimal string (an image ID)")
	}
	path := rest
	if first, remainder, ok := strings.Cut(rest, "/"); ok && isImageDomain(first) {
		if !imageDomainRegexp.MatchString(first) {
			return fail("invalid registry host %q", first)
		}
		r.Domain, path = first, remainder
	}
	for _, c := range strings.Split(path, "/") {
		switch {
		case c == "":
			return fail("repository path components must not be empty")
		case imagePathComponentRegexp.MatchString(c):
		case imagePathComponentRegexp.MatchString(strings.ToLower(c)):
			return fail("repository name must be lowercase")
		default:
			return fail("repository path component %q must be lower-case letters and digits, separated by '.', '_', '__' or '-'", c)
		}
	}
	r.Path = path
	return r, nil
}

// isImageDomain tells whether the first component of a name is a registry host, as Docker
// decides it.
func isImageDomain(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost" || strings.ToLower(s) != s
}

// ValidateImageReference reports whether ref is a well-formed image reference (see
// ParseImageReference): nil, or an error saying what is wrong. It is for clients (kubectl's
// client-side checks); the API server, like Kubernetes', only requires an image to be
// non-empty and without surrounding whitespace.
func ValidateImageReference(ref string) error {
	_, err := ParseImageReference(ref)
	return err
}
