package labels

import (
	"fmt"
	"slices"
	"strings"
)

// Parse parses a label selector string:
//
//	<selector-syntax>         ::= <requirement> | <requirement> "," <selector-syntax>
//	<requirement>             ::= [!] KEY [ <set-based-restriction> | <exact-match-restriction> ]
//	<set-based-restriction>   ::= "" | <inclusion-exclusion> <value-set>
//	<inclusion-exclusion>     ::= "in" | "notin"
//	<value-set>               ::= "(" <values> ")"
//	<values>                  ::= VALUE | VALUE "," <values>
//	<exact-match-restriction> ::= ["=" | "==" | "!=" | ">" | "<"] VALUE
//
// KEY is a qualified name (see IsQualifiedName) and VALUE a label value
// (see IsValidLabelValue, may be empty); ">" and "<" need an integer VALUE.
// Whitespace (space, tab, CR, LF) between tokens is ignored. The empty
// string parses to a selector that matches everything. Requirements are
// sorted by key, and set values sorted and de-duplicated, as Kubernetes does.
// Errors read like Kubernetes', e.g. "unable to parse requirement: <nil>:
// Invalid value: ..." or "found 'x', expected: ',' or 'end of string'".
func Parse(selector string) (Selector, error) {
	p := &parser{items: lex(selector)}
	reqs, err := p.parse()
	if err != nil {
		return nil, err
	}
	sortByKey(reqs)
	return internalSelector(reqs), nil
}

type token int

const (
	tokEOS token = iota
	tokIdent
	tokComma
	tokOpenParen
	tokCloseParen
	tokNot // "!"
	tokEquals
	tokDoubleEquals
	tokNotEquals
	tokGreater
	tokLess
	tokIn
	tokNotIn
)

type item struct {
	tok token
	lit string
}

func isWhitespace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isSpecial(c byte) bool {
	switch c {
	case '=', '!', '(', ')', ',', '>', '<':
		return true
	}
	return false
}

var specialTokens = map[string]token{
	"=": tokEquals, "==": tokDoubleEquals, "!": tokNot, "!=": tokNotEquals,
	"(": tokOpenParen, ")": tokCloseParen, ",": tokComma, ">": tokGreater, "<": tokLess,
}

// lex splits the input into tokens, always ending with tokEOS. Operators are
// matched greedily ("!=" and "==" before "!" and "="); identifiers are runs
// of anything that is neither whitespace nor an operator character.
func lex(s string) []item {
	var items []item
	i := 0
	for {
		for i < len(s) && isWhitespace(s[i]) {
			i++
		}
		if i == len(s) {
			return append(items, item{tokEOS, ""})
		}
		if isSpecial(s[i]) {
			n := 1
			if i+1 < len(s) && s[i+1] == '=' && (s[i] == '!' || s[i] == '=') {
				n = 2
			}
			lit := s[i : i+n]
			items = append(items, item{specialTokens[lit], lit})
			i += n
			continue
		}
		j := i
		for j < len(s) && !isSpecial(s[j]) && !isWhitespace(s[j]) {
			j++
		}
		lit := s[i:j]
		tok := tokIdent
		switch lit {
		case "in":
			tok = tokIn
		case "notin":
			tok = tokNotIn
		}
		items = append(items, item{tok, lit})
		i = j
	}
}

// context decides whether "in"/"notin" are keywords (keyAndOperator) or
// plain identifiers (values), so that "in in (notin)" is a valid selector.
type context int

const (
	keyAndOperator context = iota
	values
)

type parser struct {
	items []item
	pos   int
}

func (p *parser) peek(ctx context) (token, string) {
	it := p.items[min(p.pos, len(p.items)-1)]
	if ctx == values && (it.tok == tokIn || it.tok == tokNotIn) {
		return tokIdent, it.lit
	}
	return it.tok, it.lit
}

func (p *parser) next(ctx context) (token, string) {
	tok, lit := p.peek(ctx)
	if p.pos < len(p.items) {
		p.pos++
	}
	return tok, lit
}

func (p *parser) parse() ([]Requirement, error) {
	var reqs []Requirement
	for {
		tok, lit := p.peek(values)
		switch tok {
		case tokIdent, tokNot:
			r, err := p.parseRequirement()
			if err != nil {
				return nil, fmt.Errorf("unable to parse requirement: %w", err)
			}
			reqs = append(reqs, *r)
			switch t, l := p.next(values); t {
			case tokEOS:
				return reqs, nil
			case tokComma:
				if t2, l2 := p.peek(values); t2 != tokIdent && t2 != tokNot {
					return nil, fmt.Errorf("found '%s', expected: identifier after ','", l2)
				}
			default:
				return nil, fmt.Errorf("found '%s', expected: ',' or 'end of string'", l)
			}
		case tokEOS:
			return reqs, nil
		default:
			return nil, fmt.Errorf("found '%s', expected: !, identifier, or 'end of string'", lit)
		}
	}
}

func (p *parser) parseRequirement() (*Requirement, error) {
	key, op, err := p.parseKeyAndInferOperator()
	if err != nil {
		return nil, err
	}
	if op == Exists || op == DoesNotExist {
		return NewRequirement(key, op, nil)
	}
	if op, err = p.parseOperator(); err != nil {
		return nil, err
	}
	var vals []string
	switch op {
	case In, NotIn:
		vals, err = p.parseValues()
	default:
		vals, err = p.parseExactValue()
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(vals)
	return NewRequirement(key, op, slices.Compact(vals))
}

// parseKeyAndInferOperator reads "[!] KEY". The operator is DoesNotExist if
// "!" was given, Exists if the key is followed by "," or the end, and empty
// (to be parsed next) otherwise.
func (p *parser) parseKeyAndInferOperator() (string, Operator, error) {
	var op Operator
	tok, lit := p.next(values)
	if tok == tokNot {
		op = DoesNotExist
		tok, lit = p.next(values)
	}
	if tok != tokIdent {
		return "", "", fmt.Errorf("found '%s', expected: identifier", lit)
	}
	if msgs := IsQualifiedName(lit); len(msgs) != 0 {
		return "", "", invalid("<nil>", lit, strings.Join(msgs, "; "))
	}
	if t, _ := p.peek(values); (t == tokEOS || t == tokComma) && op != DoesNotExist {
		op = Exists
	}
	return lit, op, nil
}

func (p *parser) parseOperator() (Operator, error) {
	tok, lit := p.next(keyAndOperator)
	switch tok {
	case tokIn:
		return In, nil
	case tokNotIn:
		return NotIn, nil
	case tokEquals:
		return Equals, nil
	case tokDoubleEquals:
		return DoubleEquals, nil
	case tokNotEquals:
		return NotEquals, nil
	case tokGreater:
		return GreaterThan, nil
	case tokLess:
		return LessThan, nil
	}
	ops := make([]string, len(binaryOperators))
	for i, op := range binaryOperators {
		ops[i] = string(op)
	}
	return "", fmt.Errorf("found '%s', expected: %s", lit, strings.Join(ops, ", "))
}

// parseValues reads "(" <values> ")"; "()" is the single empty value.
func (p *parser) parseValues() ([]string, error) {
	if tok, lit := p.next(values); tok != tokOpenParen {
		return nil, fmt.Errorf("found '%s' expected: '('", lit)
	}
	tok, lit := p.peek(values)
	switch tok {
	case tokIdent, tokComma:
		vals, err := p.parseIdentifiersList()
		if err != nil {
			return nil, err
		}
		if t, _ := p.next(values); t != tokCloseParen {
			return nil, fmt.Errorf("found '%s', expected: ')'", lit)
		}
		return vals, nil
	case tokCloseParen:
		p.next(values)
		return []string{""}, nil
	default:
		return nil, fmt.Errorf("found '%s', expected: ',', ')' or identifier", lit)
	}
}

// parseIdentifiersList reads a comma-separated list of possibly empty values
// up to (not including) the closing parenthesis. It reproduces Kubernetes'
// handling of empty items exactly, including its quirks: "(a,)", "(,a)",
// "(a,,b)" and "(,,,)" are accepted while "(a,,)" and "(,,)" are not.
func (p *parser) parseIdentifiersList() ([]string, error) {
	var vals []string
	for {
		tok, lit := p.next(values)
		switch tok {
		case tokIdent:
			vals = append(vals, lit)
			switch t2, l2 := p.peek(values); t2 {
			case tokComma:
				continue
			case tokCloseParen:
				return vals, nil
			default:
				return nil, fmt.Errorf("found '%s', expected: ',' or ')'", l2)
			}
		case tokComma:
			if len(vals) == 0 {
				vals = append(vals, "") // "(,"
			}
			switch t2, _ := p.peek(values); t2 {
			case tokCloseParen:
				return append(vals, ""), nil // ",)"
			case tokComma:
				p.next(values)
				vals = append(vals, "") // ",,"
			}
		default:
			return nil, fmt.Errorf("found '%s', expected: ',', or identifier", lit)
		}
	}
}

// parseExactValue reads the single (possibly empty) value after =, ==, !=,
// > or <.
func (p *parser) parseExactValue() ([]string, error) {
	if t, _ := p.peek(values); t == tokEOS || t == tokComma {
		return []string{""}, nil
	}
	tok, lit := p.next(values)
	if tok == tokIdent {
		return []string{lit}, nil
	}
	return nil, fmt.Errorf("found '%s', expected: identifier", lit)
}
