// Command ollamatemplate renders Ollama TEMPLATEs with Go's own text/template, the way Ollama's server does, so
// the tests can compare our templates byte for byte with a model's Jinja chat template.
//
// It reads a JSON array of requests on stdin and writes a JSON array of results on stdout. A request is
// {"template": "...", "messages": [{"role": "...", "content": "..."}], "system": "...", "parse_only": false}.
// A result is {"output": "..."} or {"error": "..."}.
//
// What it mirrors from ollama/ollama (template/template.go, server/routes.go ChatHandler):
//   - parsing with Option("missingkey=zero") and the funcs json, currentDate, yesterdayDate, toTypeScriptType;
//   - appending {{ .Response }} to templates that mention neither .Messages nor .Response;
//   - the Modelfile SYSTEM becomes a leading system message when the request does not start with one;
//   - collate: .System joins every system message with "\n\n", and consecutive messages of one role merge
//     with "\n\n" (tool messages excepted);
//   - the values Messages, System, Tools (none), Response (""), Think, ThinkLevel, IsThinkSet.
// Left out: the legacy .Prompt/.Response loop for templates without .Messages, suffix (fill-in-the-middle)
// prompts, tools, images, thinking, and truncation to the context window; our templates use none of them.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

type message struct {
	Role       string `json:"role"`
	Content    string `json:"content"`
	Thinking   string `json:"-"`
	Images     []any  `json:"-"`
	ToolCalls  []any  `json:"-"`
	ToolName   string `json:"-"`
	ToolCallID string `json:"-"`
}

type request struct {
	Template  string    `json:"template"`
	Messages  []message `json:"messages"`
	System    string    `json:"system"`
	ParseOnly bool      `json:"parse_only"`
}

type result struct {
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"currentDate": func(args ...string) string {
		return time.Now().Format("2006-01-02")
	},
	"yesterdayDate": func(args ...string) string {
		return time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	},
	"toTypeScriptType": func(v any) string { return "any" },
}

func identifiers(n parse.Node, out map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			identifiers(c, out)
		}
	case *parse.ActionNode:
		identifiers(n.Pipe, out)
	case *parse.TemplateNode:
		if n.Pipe != nil {
			identifiers(n.Pipe, out)
		}
	case *parse.IfNode:
		identifiers(&n.BranchNode, out)
	case *parse.RangeNode:
		identifiers(&n.BranchNode, out)
	case *parse.WithNode:
		identifiers(&n.BranchNode, out)
	case *parse.BranchNode:
		identifiers(n.Pipe, out)
		identifiers(n.List, out)
		if n.ElseList != nil {
			identifiers(n.ElseList, out)
		}
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				identifiers(a, out)
			}
		}
	case *parse.FieldNode:
		for _, id := range n.Ident {
			out[strings.ToLower(id)] = true
		}
	case *parse.VariableNode:
		for _, id := range n.Ident {
			out[strings.ToLower(id)] = true
		}
	}
}

func collate(msgs []message) (string, []*message) {
	var system []string
	var collated []*message
	for i := range msgs {
		if msgs[i].Role == "system" {
			system = append(system, msgs[i].Content)
		}
		if len(collated) > 0 && collated[len(collated)-1].Role == msgs[i].Role && msgs[i].Role != "tool" {
			collated[len(collated)-1].Content += "\n\n" + msgs[i].Content
		} else {
			collated = append(collated, &msgs[i])
		}
	}
	return strings.Join(system, "\n\n"), collated
}

func render(req request) (string, error) {
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(req.Template)
	if err != nil {
		return "", err
	}
	if req.ParseOnly {
		return "", nil
	}
	vars := map[string]bool{}
	for _, t := range tmpl.Templates() {
		identifiers(t.Root, vars)
	}
	if !vars["messages"] {
		return "", fmt.Errorf("template does not use .Messages; legacy .Prompt/.Response templates are not mirrored")
	}
	msgs := req.Messages
	if req.System != "" && (len(msgs) == 0 || msgs[0].Role != "system") {
		msgs = append([]message{{Role: "system", Content: req.System}}, msgs...)
	}
	system, collated := collate(msgs)
	var sb strings.Builder
	err = tmpl.Execute(&sb, map[string]any{
		"System":     system,
		"Messages":   collated,
		"Tools":      nil,
		"Response":   "",
		"Think":      false,
		"ThinkLevel": "",
		"IsThinkSet": false,
	})
	return sb.String(), err
}

func main() {
	var reqs []request
	if err := json.NewDecoder(os.Stdin).Decode(&reqs); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	results := make([]result, len(reqs))
	for i, req := range reqs {
		out, err := render(req)
		results[i].Output = out
		if err != nil {
			results[i].Error = err.Error()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "cannot write output:", err)
		os.Exit(2)
	}
}
