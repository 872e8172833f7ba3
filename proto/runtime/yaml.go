package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// YAMLToJSON converts one YAML document to JSON, refusing duplicate keys as the apiserver
// does. JSON input passes through unchanged (JSON is YAML).
func YAMLToJSON(data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return data, nil
	}
	out, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, &DecodeError{Msg: fmt.Sprintf("invalid YAML: %v", err)}
	}
	return out, nil
}

// SplitYAMLDocuments splits a multi-document YAML stream on "---" separator lines and drops
// documents that hold nothing but comments and whitespace.
func SplitYAMLDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimPrefix(line, "---")) == "" {
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}
