// Command ollamatemplate renders Ollama TEMPLATEs with Go's own text/template, the way Ollama's server does, so
// the tests can compare our templates byte for byte with a model's Jinja chat template.
//
// It reads a JSON array of requests on stdin and writes a JSON array of results on stdout. A request is
// {"template": "...", "messages": [{"role", "content", "thinking", "tool_calls", "tool_name", "tool_call_id"}],
// "system": "...", "tools": [...], "think": true|false|null, "parse_only": false, "tool_tag": false}; with
// tool_tag the output is the tag Ollama looks for to find tool calls in the model's output (tools/template.go).
// A result is {"output": "..."} or {"error": "..."}.
//
// What it mirrors from ollama/ollama (template/template.go, server/routes.go ChatHandler):
//   - parsing with Option("missingkey=zero") and the funcs json, currentDate, yesterdayDate, toTypeScriptType;
//   - appending {{ .Response }} to templates that mention neither .Messages nor .Response;
//   - the Modelfile SYSTEM becomes a leading system message when the request does not start with one;
//   - collate: .System joins every system message with "\n\n", and consecutive messages of one role merge
//     with "\n\n" (tool messages excepted);
//   - the values Messages, System, Tools, Response (""), Think, ThinkLevel, IsThinkSet, with tools, tool calls and
//     their arguments as Ollama hands them to templates (template.go: convertToolsForTemplate and
//     convertMessagesForTemplate: objects as Go maps, so ranging over them and `json` go in sorted key order).
//
// Left out: the legacy .Prompt/.Response loop for templates without .Messages, suffix (fill-in-the-middle)
// prompts, images and truncation to the context window; our templates use none of them.
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

type toolCallFunction struct {
	Index     int            `json:"index"`
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

type toolCall struct {
	ID       string           `json:"id"`
	Function toolCallFunction `json:"function"`
}

type message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Thinking   string     `json:"thinking"`
	Images     []any      `json:"-"`
	ToolCalls  []toolCall `json:"tool_calls"`
	ToolName   string     `json:"tool_name"`
	ToolCallID string     `json:"tool_call_id"`
}

// propertyType is Ollama's api.PropertyType: one type is written as a string, several as a list.
type propertyType []string

func (pt *propertyType) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*pt = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*pt = many
	return nil
}

func (pt propertyType) MarshalJSON() ([]byte, error) {
	if len(pt) == 1 {
		return json.Marshal(pt[0])
	}
	return json.Marshal([]string(pt))
}

type property struct {
	AnyOf       []property          `json:"anyOf,omitempty"`
	Type        propertyType        `json:"type,omitempty"`
	Items       any                 `json:"items,omitempty"`
	Description string              `json:"description,omitempty"`
	Enum        []any               `json:"enum,omitempty"`
	Properties  map[string]property `json:"properties,omitempty"`
	Required    []string            `json:"required,omitempty"`
}

type parameters struct {
	Type       string              `json:"type"`
	Defs       any                 `json:"$defs,omitempty"`
	Items      any                 `json:"items,omitempty"`
	Required   []string            `json:"required,omitempty"`
	Properties map[string]property `json:"properties"`
}

type function struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Parameters  parameters `json:"parameters"`
}

type tool struct {
	Type     string   `json:"type"`
	Items    any      `json:"items,omitempty"`
	Function function `json:"function"`
}

type request struct {
	Template  string    `json:"template"`
	Messages  []message `json:"messages"`
	System    string    `json:"system"`
	Tools     []tool    `json:"tools"`
	Think     *bool     `json:"think"`
	ParseOnly bool      `json:"parse_only"`
	ToolTag   bool      `json:"tool_tag"`
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

// branches are the lists of nodes a node holds: its own, or an if's, range's or with's body and else part.
func branches(node parse.Node) []*parse.ListNode {
	switch n := node.(type) {
	case *parse.ListNode:
		return []*parse.ListNode{n}
	case *parse.IfNode:
		return []*parse.ListNode{n.List, n.ElseList}
	case *parse.RangeNode:
		return []*parse.ListNode{n.List, n.ElseList}
	case *parse.WithNode:
		return []*parse.ListNode{n.List, n.ElseList}
	}
	return nil
}

// namesToolCalls says whether an {{ if }}'s condition names .ToolCalls.
func namesToolCalls(n *parse.IfNode) bool {
	for _, cmd := range n.Pipe.Cmds {
		for _, arg := range cmd.Args {
			if field, ok := arg.(*parse.FieldNode); ok {
				for _, id := range field.Ident {
					if id == "ToolCalls" {
						return true
					}
				}
			}
		}
	}
	return false
}

// toolCallsIf is the first {{ if }} whose condition names .ToolCalls, searched as Ollama's tools/template.go does.
func toolCallsIf(nodes []parse.Node) *parse.IfNode {
	for _, node := range nodes {
		if n, ok := node.(*parse.IfNode); ok && namesToolCalls(n) {
			return n
		}
		for _, list := range branches(node) {
			if list != nil {
				if found := toolCallsIf(list.Nodes); found != nil {
					return found
				}
			}
		}
	}
	return nil
}

// firstText is the first text that is not only whitespace, before any action, depth first.
func firstText(nodes []parse.Node) (string, bool) {
	for _, node := range nodes {
		switch n := node.(type) {
		case *parse.TextNode:
			if strings.TrimSpace(string(n.Text)) != "" {
				return string(n.Text), true
			}
			continue
		case *parse.ActionNode:
			return "", false
		}
		lists := branches(node)
		for _, list := range lists {
			if list != nil {
				if text, ok := firstText(list.Nodes); ok {
					return text, true
				}
			}
		}
		if len(lists) > 0 {
			return "", false
		}
	}
	return "", false
}

// toolTag is the text Ollama looks for to find tool calls in a model's output ("{" when the template names none).
func toolTag(tmpl *template.Template) string {
	node := toolCallsIf(tmpl.Tree.Root.Nodes)
	if node == nil {
		return "{"
	}
	text, ok := firstText(node.List.Nodes)
	if !ok {
		return "{"
	}
	tag, _, _ := strings.Cut(strings.ReplaceAll(text, "\r\n", "\n"), "{")
	if tag = strings.TrimSpace(tag); tag == "" {
		return "{"
	}
	return tag
}

func render(req request) (string, error) {
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(req.Template)
	if err != nil {
		return "", err
	}
	if req.ParseOnly {
		return "", nil
	}
	if req.ToolTag {
		return toolTag(tmpl), nil
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
	var tools any // nil unless the request has tools, as Ollama passes them
	if req.Tools != nil {
		tools = req.Tools
	}
	var sb strings.Builder
	err = tmpl.Execute(&sb, map[string]any{
		"System":     system,
		"Messages":   collated,
		"Tools":      tools,
		"Response":   "",
		"Think":      req.Think != nil && *req.Think,
		"ThinkLevel": "",
		"IsThinkSet": req.Think != nil,
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
