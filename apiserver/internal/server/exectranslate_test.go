package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kubelab.io/apiserver/internal/pki"
	"kubelab.io/apiserver/internal/streamtranslator/spdytest"
)

// spdyKubelet is a kubelet whose /exec and /attach speak SPDY remotecommand and whose
// /portForward speaks SPDY port-forward to backend.Dial (what a runtime's streaming server
// speaks behind a real kubelet), for the apiserver's client certificate only.
func spdyKubelet(t *testing.T, s *Server, backend *spdytest.Server) int {
	t.Helper()
	_, port := startKubeletTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user := r.TLS.VerifiedChains[0][0].Subject.CommonName; user != pki.KubeletClientCommonName {
			http.Error(w, "Forbidden (user="+user+")", http.StatusForbidden)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/exec/") && !strings.HasPrefix(r.URL.Path, "/attach/") && !strings.HasPrefix(r.URL.Path, "/portForward/") {
			http.NotFound(w, r)
			return
		}
		backend.ServeHTTP(w, r)
	}), servingCert(t, s), s)
	return port
}

// translateServer is a cluster whose node-1 kubelet speaks SPDY, with pod "web" there.
func translateServer(t *testing.T) (*Server, *spdytest.Server) {
	t.Helper()
	return translateServerWith(t, &spdytest.Server{})
}

// translateServerWith is translateServer with the given kubelet backend.
func translateServerWith(t *testing.T, backend *spdytest.Server) (*Server, *spdytest.Server) {
	t.Helper()
	s := testServer(t)
	c := adminClient(t, s)
	port := spdyKubelet(t, s, backend)
	registerNode(t, c, "node-1", port)
	createPod(t, c, "web", "node-1", "nginx")
	return s, backend
}

// dialWebsocket opens a websocket to the apiserver at path as the admin, offering
// protocols.
func dialWebsocket(t *testing.T, s *Server, path string, protocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	c := adminClient(t, s)
	tlsCfg := c.http.Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsCfg.NextProtos = []string{"http/1.1"} // a protocol switch has no HTTP/2 form
	d := websocket.Dialer{TLSClientConfig: tlsCfg, Subprotocols: protocols, HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial("wss://"+strings.TrimPrefix(c.base, "https://")+path, nil)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// readSession reads a channel.k8s.io session to its end: each channel's bytes and the
// error channel's Status.
func readSession(t *testing.T, ws *websocket.Conn) (map[byte]string, map[string]any) {
	t.Helper()
	out := map[byte]string{}
	var status map[string]any
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("session ended with %v", err)
			}
			return out, status
		}
		if len(data) > 0 {
			out[data[0]] += string(data[1:])
			if data[0] == 3 {
				if err := json.Unmarshal(data[1:], &status); err != nil {
					t.Fatalf("status %q: %v", data[1:], err)
				}
			}
		}
	}
}

// TestPodExecWebsocket: a websocket v5.channel.k8s.io exec is answered by the apiserver
// itself and carried to the kubelet over SPDY with the apiserver's client certificate,
// as upstream's StreamTranslatorProxy does: output, stdin's half-close and the exit
// code make the round trip.
func TestPodExecWebsocket(t *testing.T) {
	s, backend := translateServer(t)

	t.Run("output", func(t *testing.T) {
		ws, _, err := dialWebsocket(t, s, pods+"/web/exec?command=echo&command=hi&stdout=true&stderr=true", "v5.channel.k8s.io")
		if err != nil {
			t.Fatal(err)
		}
		if ws.Subprotocol() != "v5.channel.k8s.io" {
			t.Errorf("negotiated %q", ws.Subprotocol())
		}
		out, st := readSession(t, ws)
		if out[1] != "hi\n" || str(st["status"]) != "Success" {
			t.Errorf("stdout %q status %v", out[1], st)
		}
		got := backend.Requests()
		if want := "POST /exec/default/web/nginx?command=echo&command=hi&error=1&output=1"; len(got) == 0 || got[len(got)-1] != want {
			t.Errorf("kubelet got %q, want %q last", got, want)
		}
	})

	t.Run("stdin and exit code", func(t *testing.T) {
		ws, _, err := dialWebsocket(t, s, pods+"/web/exec?command=cat&stdin=true&stdout=true", "v5.channel.k8s.io")
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("\x00piped"))
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte{255, 0})
		if out, st := readSession(t, ws); out[1] != "piped" || str(st["status"]) != "Success" {
			t.Errorf("cat: stdout %q status %v", out[1], st)
		}

		ws, _, err = dialWebsocket(t, s, pods+"/web/exec?command=fail&command=7&command=bad&stdout=true&stderr=true", "v5.channel.k8s.io")
		if err != nil {
			t.Fatal(err)
		}
		out, st := readSession(t, ws)
		if out[2] != "bad\n" || str(st["reason"]) != "NonZeroExitCode" || !strings.Contains(str(st["message"]), "exit code 7") {
			t.Errorf("fail 7: stderr %q status %v", out[2], st)
		}
	})

	t.Run("attach", func(t *testing.T) {
		ws, _, err := dialWebsocket(t, s, pods+"/web/attach?stdin=true&stdout=true", "v5.channel.k8s.io")
		if err != nil {
			t.Fatal(err)
		}
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("\x00attached"))
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte{255, 0})
		if out, st := readSession(t, ws); out[1] != "attached" || str(st["status"]) != "Success" {
			t.Errorf("attach: stdout %q status %v", out[1], st)
		}
	})

	t.Run("checks come first", func(t *testing.T) {
		// The apiserver's own refusals are HTTP statuses before any upgrade.
		_, resp, err := dialWebsocket(t, s, pods+"/web/exec?stdout=true", "v5.channel.k8s.io")
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("exec without command: %v %v, want 400", err, resp)
		}
	})
}

// TestPodExecWebsocketKubectl: the stock kubectl (websocket v5 first) runs a command
// through the translator, and exits with the remote command's exit code.
func TestPodExecWebsocketKubectl(t *testing.T) {
	if _, err := os.Stat(stockKubectl); err != nil {
		t.Skipf("stock kubectl not installed at %s", stockKubectl)
	}
	s, backend := translateServer(t)
	out, err := kubectlErr(t, s, "exec", "web", "--", "echo", "through", "websocket")
	if err != nil || out != "through websocket\n" {
		t.Errorf("kubectl exec web: %v %q", err, out)
	}
	if got := backend.Requests(); len(got) != 1 || !strings.HasPrefix(got[0], "POST ") {
		t.Errorf("kubelet got %q, want the one translated SPDY POST", got)
	}
	out, err = kubectlErr(t, s, "exec", "web", "--", "fail", "4", "broken")
	if code := exitCode(err); code != 4 || !strings.Contains(out, "command terminated with exit code 4") {
		t.Errorf("kubectl exec fail 4: exit %d %q", code, out)
	}
}

// exitCode is a finished command's exit code (-1 when it did not run or exit).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}
