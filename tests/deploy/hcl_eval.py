"""Evaluates the part of Terraform's expression language that deploy/terraform uses.

python-hcl2 parses .tf files but leaves expressions as text. To check the names the
sluice-app module produces (Vault roles, policy paths, routes) against sluice's
configuration without Terraform, the tests evaluate the module's own locals and outputs
with this: string templates with interpolation and escapes, numbers, true/false/null,
var./local./path./resource attribute references, lists, objects, indexing, ==, !=, !,
&&, ||, the conditional operator, for-expressions (`[for x in xs : e if c]`,
`{for k, v in m : k => e}`), and the functions coalesce, templatefile, can, regex,
contains, tostring, join, length, concat, anytrue. Anything else raises Unsupported, so a module change the tests cannot
follow fails loudly instead of being skipped.
"""

import re

__all__ = ["Unsupported", "evaluate", "render_template"]


class Unsupported(Exception):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<ident>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|(?P<op>==|!=|=>|&&|\|\||[?:.,()\[\]{}=!])|(?P<quote>\"))"
)


class _Parser:
    def __init__(self, text, scope):
        self.text = text
        self.pos = 0
        self.scope = scope

    # -- lexing ---------------------------------------------------------------
    def _peek(self):
        m = _TOKEN.match(self.text, self.pos)
        if not m:
            rest = self.text[self.pos :].strip()
            if not rest:
                return None, None, self.pos
            raise Unsupported(f"cannot read {rest[:40]!r}")
        kind = m.lastgroup
        return kind, m.group(kind), m.end()

    def _next(self):
        kind, value, end = self._peek()
        if kind is None:
            raise Unsupported("unexpected end of expression")
        self.pos = end
        return kind, value

    def _expect(self, op):
        kind, value = self._next()
        if (kind, value) != ("op", op):
            raise Unsupported(f"expected {op!r}, found {value!r} in {self.text!r}")

    def _at(self, op):
        kind, value, _ = self._peek()
        return kind == "op" and value == op

    # -- grammar --------------------------------------------------------------
    def parse_all(self):
        value = self.expression()
        if self._peek()[0] is not None:
            raise Unsupported(f"trailing text in {self.text!r}")
        return value

    def expression(self):
        cond = self.disjunction()
        if self._at("?"):
            self._next()
            yes = self.expression()
            self._expect(":")
            no = self.expression()
            return yes if cond else no
        return cond

    def disjunction(self):
        return self._logical("||", self.conjunction, lambda a, b: a or b)

    def conjunction(self):
        return self._logical("&&", self.comparison, lambda a, b: a and b)

    def _logical(self, op, operand, combine):
        left = operand()
        while self._at(op):
            self._next()
            right = operand()
            left = combine(_boolean(left), _boolean(right))
        return left

    def comparison(self):
        left = self.unary()
        while self._at("==") or self._at("!="):
            _, op = self._next()
            right = self.unary()
            left = (left == right) if op == "==" else (left != right)
        return left

    def unary(self):
        if self._at("!"):
            self._next()
            return not _boolean(self.unary())
        return self.postfix()

    def postfix(self):
        value = self.primary()
        while True:
            if self._at("["):
                self._next()
                key = self.expression()
                self._expect("]")
                try:
                    value = value[key]
                except (KeyError, IndexError, TypeError) as e:
                    raise Unsupported(f"cannot index {value!r} with {key!r}") from e
            elif self._at("."):
                self._next()
                _, attr = self._next()
                value = self._attribute(value, attr)
            else:
                return value

    @staticmethod
    def _attribute(value, attr):
        if not isinstance(value, dict) or attr not in value:
            raise Unsupported(f"no attribute {attr!r}")
        return value[attr]

    def primary(self):
        kind, value = self._next()
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "quote":
            return self.template_string()
        if kind == "ident":
            if value in ("true", "false"):
                return value == "true"
            if value == "null":
                return None
            if self._at("("):
                return self.call(value)
            if value not in self.scope:
                raise Unsupported(f"unknown name {value!r}")
            return self.scope[value]
        if value == "(":
            inner = self.expression()
            self._expect(")")
            return inner
        if value == "[":
            kind, word, _ = self._peek()
            if (kind, word) == ("ident", "for"):
                return self.for_expression(keyed=False)
            items = []
            while not self._at("]"):
                items.append(self.expression())
                if self._at(","):
                    self._next()
            self._next()
            return items
        if value == "{":
            kind, word, _ = self._peek()
            if (kind, word) == ("ident", "for"):
                return self.for_expression(keyed=True)
            obj = {}
            while not self._at("}"):
                _, key = self._next()
                self._expect("=")
                obj[key] = self.expression()
                if self._at(","):
                    self._next()
            self._next()
            return obj
        raise Unsupported(f"unexpected {value!r} in {self.text!r}")

    def for_expression(self, keyed):
        """`[for x in xs : body if cond]` after its `[`, or `{for k, v in m : key => body
        if cond}` after its `{` (`for i, x in` too): the body evaluated once per element,
        with the element's names in scope."""
        self._next()  # for
        names = [self._next()[1]]
        if self._at(","):
            self._next()
            names.append(self._next()[1])
        if self._next() != ("ident", "in"):
            raise Unsupported(f"expected 'in' in {self.text!r}")
        collection = self.expression()
        self._expect(":")
        body = self.pos
        if isinstance(collection, dict):
            pairs = list(collection.items())
        elif isinstance(collection, list):
            pairs = list(enumerate(collection))
        else:
            raise Unsupported(f"cannot iterate over {collection!r}")
        saved = self.scope
        out = {} if keyed else []
        try:
            for key, element in pairs:
                bound = {names[0]: element} if len(names) == 1 else {
                    names[0]: key, names[1]: element}
                self.scope = {**saved, **bound}
                self.pos = body
                if keyed:
                    name = self.expression()
                    self._expect("=>")
                value = self.expression()
                keep = True
                if self._peek()[:2] == ("ident", "if"):
                    self._next()
                    keep = _boolean(self.expression())
                if keep and keyed:
                    out[name] = value
                elif keep:
                    out.append(value)
        finally:
            self.scope = saved
        self.pos = body
        self._skip_to_close()
        return out

    def call(self, name):
        self._expect("(")
        if name == "can":
            start = self.pos
            try:
                self.expression()
                ok = True
            except Unsupported:
                raise
            except Exception:
                ok = False
            self.pos = start
            self._skip_to_close()
            return ok
        args = []
        while not self._at(")"):
            args.append(self.expression())
            if self._at(","):
                self._next()
        self._next()
        return _call(name, args, self.scope)

    def _skip_to_close(self):
        depth = 0
        while True:
            kind, value = self._next()
            if kind == "quote":
                self.template_string(skip=True)
            elif value in ("(", "[", "{"):
                depth += 1
            elif value in (")", "]", "}"):
                if depth == 0:
                    return
                depth -= 1

    def template_string(self, skip=False):
        """A quoted string after its opening quote: escapes and ${...} interpolation
        (with skip, passed over without evaluating its interpolations)."""
        out = []
        text = self.text
        while True:
            if self.pos >= len(text):
                raise Unsupported("unterminated string")
            c = text[self.pos]
            if c == '"':
                self.pos += 1
                return "".join(out)
            if c == "\\":
                esc = text[self.pos + 1]
                out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(esc))
                if out[-1] is None:
                    raise Unsupported(f"escape \\{esc}")
                self.pos += 2
            elif text.startswith("${", self.pos) and skip:
                self.pos += 2
                self._skip_to_close()
            elif text.startswith("${", self.pos):
                self.pos += 2
                out.append(_to_string(self.expression()))
                self._expect("}")
            elif text.startswith("%{", self.pos):
                raise Unsupported("template directives inside a quoted string")
            else:
                out.append(c)
                self.pos += 1


def _boolean(value):
    if not isinstance(value, bool):
        raise Unsupported(f"{value!r} is not a bool")
    return value


def _to_string(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise Unsupported(f"cannot interpolate {value!r}")


def _call(name, args, scope):
    if name == "coalesce":
        for a in args:
            if a is not None and a != "":
                return a
        raise ValueError("coalesce: no non-null argument")
    if name == "templatefile":
        path, variables = args
        with open(path, encoding="utf-8") as f:
            return render_template(f.read(), variables)
    if name == "regex":
        pattern, text = args
        m = re.search(pattern, text)
        if not m:
            raise ValueError("regex: no match")
        return m.group(0)
    if name == "contains":
        return args[1] in args[0]
    if name == "tostring":
        return _to_string(args[0])
    if name == "join":
        return args[0].join(args[1])
    if name == "length":
        return len(args[0])
    if name == "concat":
        return [item for a in args for item in a]
    if name == "anytrue":
        return any(_boolean(a) for a in args[0])
    raise Unsupported(f"function {name}()")


def evaluate(value, scope):
    """Evaluates one attribute as python-hcl2 returns it."""
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, scope) for k, v in value.items() if not k.startswith("__")}
    if value.startswith("${") and value.endswith("}"):
        return _Parser(value[2:-1], scope).parse_all()
    return _Parser(value, scope).parse_all()


_DIRECTIVE = re.compile(r"%\{\s*(if\s+(?P<cond>.*?)|(?P<end>endif))\s*\}")


def render_template(text, variables):
    """templatefile(): ${...} interpolations and %{ if } ... %{ endif } (not nested)."""
    out = []
    pos = 0
    while True:
        m = _DIRECTIVE.search(text, pos)
        chunk = text[pos : m.start() if m else len(text)]
        out.append(_interpolate(chunk, variables))
        if not m:
            return "".join(out)
        if m.group("end"):
            raise Unsupported("%{ endif } without %{ if }")
        end = _DIRECTIVE.search(text, m.end())
        if not end or not end.group("end"):
            raise Unsupported("%{ if } without %{ endif }, or nested")
        if _Parser(m.group("cond"), variables).parse_all():
            out.append(_interpolate(text[m.end() : end.start()], variables))
        pos = end.end()


def _interpolate(chunk, variables):
    """Template text: literal except for ${...} (no escapes, unlike a quoted string)."""
    out = []
    parser = _Parser(chunk, variables)
    while parser.pos < len(chunk):
        start = chunk.find("${", parser.pos)
        if start < 0:
            out.append(chunk[parser.pos :])
            break
        out.append(chunk[parser.pos : start])
        parser.pos = start + 2
        out.append(_to_string(parser.expression()))
        parser._expect("}")
    return "".join(out)
