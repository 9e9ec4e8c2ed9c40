package gitsrc

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGitHub is an in-memory GitHub Enterprise REST API (base /api/v3)
// for one repository, answering the endpoints GitHub uses with the status
// codes, JSON shapes, Link pagination and rate-limit headers GitHub's REST
// documentation describes. It enforces authentication and primary rate
// limits the way GitHub does: once a limit is hit, every request before
// the reset time is refused.
type fakeGitHub struct {
	t            *testing.T
	srv          *httptest.Server
	owner, repo  string
	token        string
	mu           sync.Mutex
	nextID       int64
	comments     map[int][]*fakeComment
	perms        map[string]string
	blobs        map[string][]byte
	trees        map[string]map[string]blobState
	commits      map[string]*fakeCommit
	refs         map[string]string // "heads/main" -> commit sha
	pulls        []*fakePull
	hits         map[string]int // "METHOD route" -> count
	commentPages map[string]bool

	// Rate limits to inject: the next request is answered with each kind
	// while its counter is positive.
	primaryLimits   int
	secondaryLimits int
	tooManyRequests int
	resetAt         time.Time // primary limit in force until then
	retryAfterUntil time.Time // secondary limit in force until then
	servedAfter     []time.Time
	refusedEarly    int
}

type fakeComment struct {
	ID        int64
	Body      string
	User      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

type fakeCommit struct {
	SHA, Tree, Message string
	Parents            []string
}

type fakePull struct {
	Number      int
	Title, Body string
	Head, Base  string
	HeadSHA     string
	State       string
	MergedAt    *time.Time
	CreatedAt   time.Time
	// MergeSHA is the merge (or squash) commit; Commits the PR's commits
	// with their committer dates.
	MergeSHA string
	Commits  []fakePRCommit
}

type fakePRCommit struct {
	SHA  string
	Date time.Time
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{
		t: t, owner: "acme", repo: "db", token: "tok-123", nextID: 1000,
		comments: map[int][]*fakeComment{}, perms: map[string]string{},
		blobs: map[string][]byte{}, trees: map[string]map[string]blobState{},
		commits: map[string]*fakeCommit{}, refs: map[string]string{}, hits: map[string]int{},
		commentPages: map[string]bool{},
	}
	mux := http.NewServeMux()
	p := "/api/v3/repos/{owner}/{repo}"
	route := func(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
		method, rest, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+p+rest, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.hits[pattern]++
			if r.PathValue("owner") != f.owner || r.PathValue("repo") != f.repo {
				f.fail(w, http.StatusNotFound, "Not Found")
				return
			}
			h(w, r)
		})
	}
	route("GET /issues/{number}/comments", f.listComments)
	route("POST /issues/{number}/comments", f.createComment)
	route("PATCH /issues/comments/{id}", f.editComment)
	route("GET /collaborators/{user}/permission", f.permission)
	route("GET /git/ref/{ref...}", f.getRef)
	route("POST /git/refs", f.createRef)
	route("GET /git/commits/{sha}", f.getCommit)
	route("POST /git/commits", f.createCommit)
	route("GET /git/trees/{sha}", f.getTree)
	route("POST /git/trees", f.createTree)
	route("GET /pulls", f.listPulls)
	route("POST /pulls", f.createPull)
	route("GET /contents/{path...}", f.getContents)
	route("GET /commits/{sha}/pulls", f.pullsOfCommit)
	route("GET /pulls/{number}/commits", f.pullCommits)
	f.srv = httptest.NewServer(f.gate(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// gate checks authentication and applies rate limits before routing.
func (f *fakeGitHub) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		now := time.Now()
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-GitHub-Media-Type", "github.v3; format=json")
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			f.mu.Unlock()
			f.fail(w, http.StatusUnauthorized, "Bad credentials")
			return
		}
		reset := now.Add(time.Hour)
		if now.Before(f.resetAt) || f.primaryLimits > 0 {
			if f.primaryLimits > 0 {
				f.primaryLimits--
				f.resetAt = now.Add(1500 * time.Millisecond)
			} else {
				f.refusedEarly++
			}
			h.Set("X-RateLimit-Limit", "5000")
			h.Set("X-RateLimit-Remaining", "0")
			h.Set("X-RateLimit-Used", "5000")
			h.Set("X-RateLimit-Resource", "core")
			h.Set("X-RateLimit-Reset", strconv.FormatInt(f.resetAt.Add(time.Second-1).Unix(), 10))
			f.mu.Unlock()
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
			return
		}
		if now.Before(f.retryAfterUntil) || f.secondaryLimits > 0 || f.tooManyRequests > 0 {
			code := http.StatusForbidden
			switch {
			case f.secondaryLimits > 0:
				f.secondaryLimits--
				f.retryAfterUntil = now.Add(time.Second)
			case f.tooManyRequests > 0:
				f.tooManyRequests--
				f.retryAfterUntil = now.Add(time.Second)
				code = http.StatusTooManyRequests
			default:
				f.refusedEarly++
			}
			h.Set("Retry-After", strconv.Itoa(int(time.Until(f.retryAfterUntil).Seconds()+0.999)))
			f.mu.Unlock()
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
			return
		}
		if !f.resetAt.IsZero() || !f.retryAfterUntil.IsZero() {
			f.servedAfter = append(f.servedAfter, now)
		}
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", "4999")
		h.Set("X-RateLimit-Used", "1")
		h.Set("X-RateLimit-Resource", "core")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// fail writes GitHub's error body.
func (f *fakeGitHub) fail(w http.ResponseWriter, code int, msg string) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}

func (f *fakeGitHub) validation(w http.ResponseWriter, resource, field, code, msg string) {
	w.WriteHeader(http.StatusUnprocessableEntity)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest",
		"errors": []map[string]string{{"resource": resource, "field": field, "code": code, "message": msg}},
	})
}

func (f *fakeGitHub) reply(w http.ResponseWriter, code int, v any) {
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.t.Errorf("fake github: encode: %v", err)
	}
}

func (f *fakeGitHub) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		f.fail(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

func (f *fakeGitHub) apiURL(p string) string {
	return f.srv.URL + "/api/v3/repos/" + f.owner + "/" + f.repo + p
}
func (f *fakeGitHub) webURL(p string) string { return f.srv.URL + "/" + f.owner + "/" + f.repo + p }

// paginate slices items per GitHub's page/per_page (default 30, max 100)
// and sets the Link header.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	last := max((len(items)+per-1)/per, 1)
	link := func(n int, rel string) string {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		qq := u.Query()
		qq.Set("page", strconv.Itoa(n))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo := min((page-1)*per, len(items))
	return items[lo:min(lo+per, len(items))]
}

func (f *fakeGitHub) commentJSON(number int, c *fakeComment) map[string]any {
	return map[string]any{
		"id": c.ID, "node_id": fmt.Sprintf("IC_%d", c.ID), "body": c.Body,
		"url":        f.apiURL(fmt.Sprintf("/issues/comments/%d", c.ID)),
		"html_url":   f.webURL(fmt.Sprintf("/pull/%d#issuecomment-%d", number, c.ID)),
		"user":       map[string]any{"login": c.User, "id": len(c.User), "type": "User"},
		"created_at": c.CreatedAt.UTC().Format(time.RFC3339), "updated_at": c.UpdatedAt.UTC().Format(time.RFC3339),
		"author_association": "CONTRIBUTOR",
	}
}

// addComment stores a comment as user (test setup and POST).
func (f *fakeGitHub) addComment(number int, user, body string) *fakeComment {
	f.nextID++
	now := time.Now()
	c := &fakeComment{ID: f.nextID, Body: body, User: user, CreatedAt: now, UpdatedAt: now}
	f.comments[number] = append(f.comments[number], c)
	return c
}

func (f *fakeGitHub) listComments(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("number"))
	f.commentPages[r.URL.Query().Get("page")] = true
	all := f.comments[n]
	out := []map[string]any{}
	for _, c := range paginate(w, r, all) {
		out = append(out, f.commentJSON(n, c))
	}
	f.reply(w, http.StatusOK, out)
}

func (f *fakeGitHub) createComment(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("number"))
	var in struct{ Body *string }
	if !f.decode(w, r, &in) {
		return
	}
	if in.Body == nil || *in.Body == "" {
		f.validation(w, "IssueComment", "body", "missing_field", "")
		return
	}
	f.reply(w, http.StatusCreated, f.commentJSON(n, f.addComment(n, "schemacanary-bot", *in.Body)))
}

func (f *fakeGitHub) editComment(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var in struct{ Body *string }
	if !f.decode(w, r, &in) {
		return
	}
	for n, cs := range f.comments {
		for _, c := range cs {
			if c.ID == id {
				c.Body, c.UpdatedAt = *in.Body, time.Now()
				f.reply(w, http.StatusOK, f.commentJSON(n, c))
				return
			}
		}
	}
	f.fail(w, http.StatusNotFound, "Not Found")
}

func (f *fakeGitHub) permission(w http.ResponseWriter, r *http.Request) {
	u := r.PathValue("user")
	p, ok := f.perms[u]
	if !ok {
		f.fail(w, http.StatusNotFound, "Not Found")
		return
	}
	role := p
	if p == "read" {
		role = "read"
	}
	f.reply(w, http.StatusOK, map[string]any{"permission": p, "role_name": role, "user": map[string]any{"login": u}})
}

func gitSHA(kind string, data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func (f *fakeGitHub) putTree(files map[string]blobState) string {
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s %s\n", files[k].mode, k, files[k].sha)
	}
	sha := gitSHA("tree", []byte(b.String()))
	cp := map[string]blobState{}
	for k, v := range files {
		cp[k] = v
	}
	f.trees[sha] = cp
	return sha
}

func (f *fakeGitHub) putCommit(tree, msg string, parents ...string) string {
	sha := gitSHA("commit", []byte(tree+"\n"+strings.Join(parents, ",")+"\n"+msg))
	f.commits[sha] = &fakeCommit{SHA: sha, Tree: tree, Message: msg, Parents: parents}
	return sha
}

// commitFiles is test setup: a commit on branch with files changed (""
// deletes) relative to the branch head.
func (f *fakeGitHub) commitFiles(branch, msg string, files map[string]string, extraParents ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := map[string]blobState{}
	var parents []string
	if head, ok := f.refs["heads/"+branch]; ok {
		for k, v := range f.trees[f.commits[head].Tree] {
			cur[k] = v
		}
		parents = append(parents, head)
	}
	for p, content := range files {
		if content == "" {
			delete(cur, p)
			continue
		}
		sha := gitSHA("blob", []byte(content))
		f.blobs[sha] = []byte(content)
		cur[p] = blobState{sha: sha, mode: "100644"}
	}
	c := f.putCommit(f.putTree(cur), msg, append(parents, extraParents...)...)
	f.refs["heads/"+branch] = c
	return c
}

func (f *fakeGitHub) filesAt(ref string) map[string]blobState {
	f.mu.Lock()
	defer f.mu.Unlock()
	sha := f.refs[ref]
	if c, ok := f.commits[sha]; ok {
		return f.trees[c.Tree]
	}
	return nil
}

func (f *fakeGitHub) refJSON(name, sha string) map[string]any {
	return map[string]any{"ref": "refs/" + name, "node_id": "REF_" + sha[:8], "url": f.apiURL("/git/refs/" + name),
		"object": map[string]any{"type": "commit", "sha": sha, "url": f.apiURL("/git/commits/" + sha)}}
}

func (f *fakeGitHub) getRef(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("ref")
	sha, ok := f.refs[name]
	if !ok {
		f.fail(w, http.StatusNotFound, "Not Found")
		return
	}
	f.reply(w, http.StatusOK, f.refJSON(name, sha))
}

func (f *fakeGitHub) createRef(w http.ResponseWriter, r *http.Request) {
	var in struct{ Ref, SHA string }
	if !f.decode(w, r, &in) {
		return
	}
	name, ok := strings.CutPrefix(in.Ref, "refs/")
	if !ok || strings.Count(in.Ref, "/") < 2 {
		f.fail(w, http.StatusUnprocessableEntity, "Reference name must start with 'refs/' and have at least two slashes.")
		return
	}
	if _, exists := f.refs[name]; exists {
		f.fail(w, http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	if _, ok := f.commits[in.SHA]; !ok {
		f.fail(w, http.StatusUnprocessableEntity, "Object does not exist")
		return
	}
	f.refs[name] = in.SHA
	f.reply(w, http.StatusCreated, f.refJSON(name, in.SHA))
}

func (f *fakeGitHub) commitJSON(c *fakeCommit) map[string]any {
	parents := []map[string]any{}
	for _, p := range c.Parents {
		parents = append(parents, map[string]any{"sha": p, "url": f.apiURL("/git/commits/" + p)})
	}
	who := map[string]any{"name": "dev", "email": "dev@example.com", "date": "2026-11-25T12:00:00Z"}
	return map[string]any{"sha": c.SHA, "node_id": "C_" + c.SHA[:8], "url": f.apiURL("/git/commits/" + c.SHA),
		"message": c.Message, "tree": map[string]any{"sha": c.Tree, "url": f.apiURL("/git/trees/" + c.Tree)},
		"parents": parents, "author": who, "committer": who,
		"verification": map[string]any{"verified": false, "reason": "unsigned"}}
}

func (f *fakeGitHub) getCommit(w http.ResponseWriter, r *http.Request) {
	c, ok := f.commits[r.PathValue("sha")]
	if !ok {
		f.fail(w, http.StatusNotFound, "Not Found")
		return
	}
	f.reply(w, http.StatusOK, f.commitJSON(c))
}

func (f *fakeGitHub) createCommit(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Message string
		Tree    string
		Parents []string
	}
	if !f.decode(w, r, &in) {
		return
	}
	if _, ok := f.trees[in.Tree]; !ok || in.Message == "" {
		f.fail(w, http.StatusUnprocessableEntity, "Tree SHA does not exist")
		return
	}
	for _, p := range in.Parents {
		if _, ok := f.commits[p]; !ok {
			f.fail(w, http.StatusUnprocessableEntity, "Parent SHA does not exist or is not a commit object")
			return
		}
	}
	sha := f.putCommit(in.Tree, in.Message, in.Parents...)
	f.reply(w, http.StatusCreated, f.commitJSON(f.commits[sha]))
}

func (f *fakeGitHub) treeJSON(sha string, recursive bool) map[string]any {
	files := f.trees[sha]
	type ent struct{ path, mode, typ, sha string }
	var ents []ent
	dirs := map[string]bool{}
	for p, b := range files {
		if !recursive && strings.Contains(p, "/") {
			dir, _, _ := strings.Cut(p, "/")
			dirs[dir] = true
			continue
		}
		ents = append(ents, ent{p, b.mode, "blob", b.sha})
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		ents = append(ents, ent{d, "040000", "tree", gitSHA("tree", []byte(sha+d))})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].path < ents[j].path })
	list := []map[string]any{}
	for _, e := range ents {
		m := map[string]any{"path": e.path, "mode": e.mode, "type": e.typ, "sha": e.sha, "url": f.apiURL("/git/" + e.typ + "s/" + e.sha)}
		if e.typ == "blob" {
			m["size"] = len(f.blobs[e.sha])
		}
		list = append(list, m)
	}
	return map[string]any{"sha": sha, "url": f.apiURL("/git/trees/" + sha), "tree": list, "truncated": false}
}

func (f *fakeGitHub) getTree(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	if _, ok := f.trees[sha]; !ok {
		f.fail(w, http.StatusNotFound, "Not Found")
		return
	}
	f.reply(w, http.StatusOK, f.treeJSON(sha, r.URL.Query().Get("recursive") != ""))
}

func (f *fakeGitHub) createTree(w http.ResponseWriter, r *http.Request) {
	var in struct {
		BaseTree string `json:"base_tree"`
		Tree     []struct {
			Path, Mode, Type string
			SHA              *string
			Content          *string
		}
	}
	if !f.decode(w, r, &in) {
		return
	}
	files := map[string]blobState{}
	if in.BaseTree != "" {
		base, ok := f.trees[in.BaseTree]
		if !ok {
			f.fail(w, http.StatusUnprocessableEntity, "base_tree is not a valid tree oid")
			return
		}
		for k, v := range base {
			files[k] = v
		}
	}
	if len(in.Tree) == 0 {
		f.validation(w, "Tree", "tree", "missing_field", "")
		return
	}
	for _, e := range in.Tree {
		switch {
		case e.Type != "blob" || e.Mode == "":
			f.fail(w, http.StatusUnprocessableEntity, "Must supply a valid tree.mode and tree.type")
			return
		case e.SHA == nil && e.Content == nil:
			if _, ok := files[e.Path]; !ok {
				f.fail(w, http.StatusUnprocessableEntity, "GitRPC::BadObjectState")
				return
			}
			delete(files, e.Path)
		case e.SHA != nil:
			if _, ok := f.blobs[*e.SHA]; !ok {
				f.fail(w, http.StatusUnprocessableEntity, "tree.sha "+*e.SHA+" is not a valid blob")
				return
			}
			files[e.Path] = blobState{sha: *e.SHA, mode: e.Mode}
		default:
			sha := gitSHA("blob", []byte(*e.Content))
			f.blobs[sha] = []byte(*e.Content)
			files[e.Path] = blobState{sha: sha, mode: e.Mode}
		}
	}
	f.reply(w, http.StatusCreated, f.treeJSON(f.putTree(files), true))
}

func (f *fakeGitHub) pullJSON(p *fakePull) map[string]any {
	m := map[string]any{
		"id": 500 + p.Number, "number": p.Number, "state": p.State, "title": p.Title, "body": p.Body,
		"url":        f.apiURL(fmt.Sprintf("/pulls/%d", p.Number)),
		"html_url":   f.webURL(fmt.Sprintf("/pull/%d", p.Number)),
		"head":       map[string]any{"ref": p.Head, "sha": p.HeadSHA, "label": f.owner + ":" + p.Head},
		"base":       map[string]any{"ref": p.Base, "label": f.owner + ":" + p.Base},
		"created_at": p.CreatedAt.UTC().Format(time.RFC3339),
		"merged_at":  nil, "draft": false,
	}
	if p.MergedAt != nil {
		m["merged_at"] = p.MergedAt.UTC().Format(time.RFC3339)
	}
	if p.MergeSHA != "" {
		m["merge_commit_sha"] = p.MergeSHA
	}
	return m
}

// pullsOfCommit answers "List pull requests associated with a commit":
// the pulls whose merge commit or one of whose commits is sha.
func (f *fakeGitHub) pullsOfCommit(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	out := []map[string]any{}
	for _, p := range f.pulls {
		hit := p.MergeSHA == sha || p.HeadSHA == sha
		for _, c := range p.Commits {
			hit = hit || c.SHA == sha
		}
		if hit {
			out = append(out, f.pullJSON(p))
		}
	}
	f.reply(w, http.StatusOK, out)
}

// pullCommits answers "List commits on a pull request".
func (f *fakeGitHub) pullCommits(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("number"))
	for _, p := range f.pulls {
		if p.Number != n {
			continue
		}
		out := []map[string]any{}
		for _, c := range paginate(w, r, p.Commits) {
			date := c.Date.UTC().Format(time.RFC3339)
			out = append(out, map[string]any{"sha": c.SHA, "commit": map[string]any{
				"message":   "commit " + c.SHA,
				"author":    map[string]any{"name": "dev", "email": "dev@example.com", "date": date},
				"committer": map[string]any{"name": "dev", "email": "dev@example.com", "date": date},
			}})
		}
		f.reply(w, http.StatusOK, out)
		return
	}
	f.fail(w, http.StatusNotFound, "Not Found")
}

// mergedPullAt is test setup: pull request number, merged as mergeSHA,
// whose last commit was pushed at lastPush.
func (f *fakeGitHub) mergedPullAt(number int, mergeSHA string, lastPush time.Time) {
	merged := lastPush.Add(time.Minute)
	f.pulls = append(f.pulls, &fakePull{Number: number, Title: fmt.Sprintf("change #%d", number), Head: fmt.Sprintf("feature-%d", number),
		Base: "main", State: "closed", MergedAt: &merged, CreatedAt: lastPush.Add(-time.Hour), MergeSHA: mergeSHA,
		Commits: []fakePRCommit{{SHA: fmt.Sprintf("c%d-1", number), Date: lastPush.Add(-30 * time.Minute)}, {SHA: fmt.Sprintf("c%d-2", number), Date: lastPush}}})
}

func (f *fakeGitHub) listPulls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var out []map[string]any
	var match []*fakePull
	for _, p := range f.pulls {
		if state != "all" && p.State != state {
			continue
		}
		if h := q.Get("head"); h != "" && h != f.owner+":"+p.Head {
			continue
		}
		if b := q.Get("base"); b != "" && b != p.Base {
			continue
		}
		match = append(match, p)
	}
	for _, p := range paginate(w, r, match) {
		out = append(out, f.pullJSON(p))
	}
	if out == nil {
		out = []map[string]any{}
	}
	f.reply(w, http.StatusOK, out)
}

func (f *fakeGitHub) createPull(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title, Head, Base, Body string
		MaintainerCanModify     *bool `json:"maintainer_can_modify"`
	}
	if !f.decode(w, r, &in) {
		return
	}
	headSHA, ok := f.refs["heads/"+in.Head]
	if !ok {
		f.validation(w, "PullRequest", "head", "invalid", "")
		return
	}
	if _, ok := f.refs["heads/"+in.Base]; !ok {
		f.validation(w, "PullRequest", "base", "invalid", "")
		return
	}
	for _, p := range f.pulls {
		if p.Head == in.Head && p.Base == in.Base && p.State == "open" {
			f.validation(w, "PullRequest", "", "custom", "A pull request already exists for "+f.owner+":"+in.Head+".")
			return
		}
	}
	p := &fakePull{Number: 100 + len(f.pulls) + 1, Title: in.Title, Body: in.Body, Head: in.Head, Base: in.Base,
		HeadSHA: headSHA, State: "open", CreatedAt: time.Now()}
	f.pulls = append(f.pulls, p)
	f.reply(w, http.StatusCreated, f.pullJSON(p))
}

// mergePull is test setup: a maintainer merges pull request number.
func (f *fakeGitHub) mergePull(number int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pulls {
		if p.Number == number {
			now := time.Now()
			p.State, p.MergedAt = "closed", &now
			f.refs["heads/"+p.Base] = p.HeadSHA
		}
	}
}

func (f *fakeGitHub) getContents(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = "main"
	}
	sha, ok := f.refs["heads/"+ref]
	if !ok {
		sha = ref
	}
	c, ok := f.commits[sha]
	if !ok {
		f.fail(w, http.StatusNotFound, "No commit found for the ref "+ref)
		return
	}
	p := r.PathValue("path")
	b, ok := f.trees[c.Tree][p]
	if !ok {
		f.fail(w, http.StatusNotFound, "Not Found")
		return
	}
	data := f.blobs[b.sha]
	f.reply(w, http.StatusOK, map[string]any{"type": "file", "encoding": "base64", "size": len(data),
		"name": path.Base(p), "path": p, "sha": b.sha, "content": base64.StdEncoding.EncodeToString(data),
		"url": f.apiURL("/contents/" + url.PathEscape(p) + "?ref=" + ref)})
}

// hit returns how often a route was called.
func (f *fakeGitHub) hit(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[route]
}
