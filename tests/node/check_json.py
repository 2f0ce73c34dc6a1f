#!/usr/bin/env python3
"""check_json.py - validator for the structured-output tests (structured.test.mjs).

stdin: a JSON list of {"schema": <schema or null>, "text": "...", "complete": bool}.
stdout: a JSON list of {"ok": bool, "why": "..."}, one per item:
  complete: text parses as JSON and (schema given) validates against it with
            python3-jsonschema (Debian's; the validator class the schema's
            $schema names, Draft 2020-12 otherwise, formats checked);
  else:     text is a prefix of some JSON text (prefix_ok below), as when
            max_tokens cut the output.
Exit 0 always (the caller asserts on the results); 3 if jsonschema is missing.
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(3)


class Incomplete(Exception):
    pass


class Bad(Exception):
    pass


WS = " \t\n\r"


def prefix_ok(s):
    """True if s is a prefix of a valid JSON text (a value with optional
    surrounding whitespace); a recursive-descent parser where running out
    of input is success and any wrong byte is failure."""
    p = [0]

    def peek():
        if p[0] >= len(s):
            raise Incomplete()
        return s[p[0]]

    def ws():
        while p[0] < len(s) and s[p[0]] in WS:
            p[0] += 1

    def lit(word):
        for ch in word:
            if peek() != ch:
                raise Bad("expected %r" % word)
            p[0] += 1

    def digits(at_least_one):
        n = 0
        while p[0] < len(s) and s[p[0]].isdigit() and s[p[0]] in "0123456789":
            p[0] += 1
            n += 1
        if at_least_one and n == 0:
            peek()  # end of input -> Incomplete
            raise Bad("digit expected")

    def number():
        if peek() == "-":
            p[0] += 1
        if peek() == "0":
            p[0] += 1
        else:
            if peek() not in "123456789":
                raise Bad("digit expected")
            digits(True)
        if p[0] < len(s) and s[p[0]] == ".":
            p[0] += 1
            digits(True)
        if p[0] < len(s) and s[p[0]] in "eE":
            p[0] += 1
            if peek() in "+-":
                p[0] += 1
            digits(True)

    def string():
        lit('"')
        while True:
            c = peek()
            if c == '"':
                p[0] += 1
                return
            if c == "\\":
                p[0] += 1
                e = peek()
                if e == "u":
                    p[0] += 1
                    for _ in range(4):
                        if peek() not in "0123456789abcdefABCDEF":
                            raise Bad("bad \\u escape")
                        p[0] += 1
                elif e in '"\\/bfnrt':
                    p[0] += 1
                else:
                    raise Bad("bad escape")
            elif ord(c) < 0x20:
                raise Bad("control character in string")
            else:
                p[0] += 1

    def value():
        ws()
        c = peek()
        if c == "{":
            p[0] += 1
            ws()
            if peek() == "}":
                p[0] += 1
                return
            while True:
                ws()
                string()
                ws()
                lit(":")
                value()
                ws()
                c = peek()
                p[0] += 1
                if c == "}":
                    return
                if c != ",":
                    raise Bad("expected , or }")
        elif c == "[":
            p[0] += 1
            ws()
            if peek() == "]":
                p[0] += 1
                return
            while True:
                value()
                ws()
                c = peek()
                p[0] += 1
                if c == "]":
                    return
                if c != ",":
                    raise Bad("expected , or ]")
        elif c == '"':
            string()
        elif c == "t":
            lit("true")
        elif c == "f":
            lit("false")
        elif c == "n":
            lit("null")
        else:
            number()

    try:
        value()
        ws()
        return p[0] == len(s)  # trailing garbage after a complete value
    except Incomplete:
        return True
    except Bad:
        return False


def self_test():
    good = ['', ' ', '{', '{"a', '{"a":', '{"a":1', '{"a":1,', '[1,2', '"ab\\u00', '-', '-0.', '1e', '1e+',
            'tru', 'nul', '{"a":[{"b":null}]}', '"\\', '[]']
    bad = ['}', '{"a"1', '[1,,', '01', '"\x01', 'trux', '{"a":1}}', '--', '1.e', '{,', '"\\x']
    for g in good:
        assert prefix_ok(g), g
    for b in bad:
        assert not prefix_ok(b), b


def main():
    self_test()
    items = json.load(sys.stdin)
    out = []
    for it in items:
        text, schema = it["text"], it.get("schema")
        if not it.get("complete"):
            ok = prefix_ok(text)
            out.append({"ok": ok, "why": "" if ok else "not a JSON prefix"})
            continue
        try:
            inst = json.loads(text)
        except ValueError as e:
            out.append({"ok": False, "why": "not JSON: %s" % e})
            continue
        if schema is None:
            out.append({"ok": True, "why": ""})
            continue
        try:
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
            cls(schema, format_checker=cls.FORMAT_CHECKER).validate(inst)
            out.append({"ok": True, "why": ""})
        except jsonschema.ValidationError as e:
            out.append({"ok": False, "why": "schema: %s" % e.message[:300]})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
