"""The C front end: pycparser's syntax tree -> the IR (ir.py), with every check the subset needs.

Anything outside the subset (docs/c.md) is refused with an AsmError at its FILE:LINE:COL,
`not supported: ...`; undeclared names, wrong argument counts and syntax errors likewise.
"""

from __future__ import annotations

from pycparser import c_ast, c_parser

from looped.errors import AsmError, SourceLoc
from looped.machines.tape.c import ir
from looped.machines.tape.c.preprocess import preprocess

WORD = 1 << 32
INT_TYPES = {("int",), ("signed",), ("signed", "int"), ("char",), ("signed", "char")}
BUILTINS = {"putchar": 1, "getchar": 0, "puts": 1, "printf": -1}
BUILTIN_CONSTANTS = {"EOF": -1, "NULL": 0}  # when no cpp defined them (preprocess._without_cpp)
RUNTIME_OPS = {"*": "__mul", "/": "__div", "%": "__mod", "<<": "__shl", ">>": "__shr",
               "&": "__and", "|": "__or", "^": "__xor"}


def wrap32(value: int) -> int:
    value %= WORD
    return value - WORD if value >= WORD // 2 else value


class _Parser(c_parser.CParser):
    """pycparser, with a place for the errors it reports without one (the next token's)."""

    def _parse_error(self, msg, coord):
        if isinstance(coord, str) or coord is None:
            tok = self._peek()
            if tok is not None:
                coord = self._tok_coord(tok)
        raise _Located(coord, msg)


class _Located(Exception):
    def __init__(self, coord, msg):
        self.coord, self.msg = coord, msg


def parse(text: str, file: str) -> c_ast.FileAST:
    source = preprocess(text, file)
    try:
        return _Parser().parse(source, file)
    except _Located as err:
        loc = _loc(err.coord, file)
        raise AsmError(loc, f"syntax error: {err.msg}") from None
    except c_parser.ParseError as err:  # pycparser's own, "file:line:col: message"
        raise AsmError(_parse_error_loc(str(err), file), f"syntax error: {str(err).split(': ', 1)[-1]}") from None


def _parse_error_loc(text: str, file: str) -> SourceLoc:
    parts = text.split(":")
    try:
        return SourceLoc(parts[0], int(parts[1]), int(parts[2]))
    except (IndexError, ValueError):
        return SourceLoc(file, 1, 1)


def _loc(coord, file: str) -> SourceLoc:
    if coord is None or isinstance(coord, str):
        return SourceLoc(file, 1, 1)
    return SourceLoc(coord.file or file, coord.line or 1, coord.column or 1)


class _FuncInfo:
    def __init__(self, name, nparams, returns_value, loc):
        self.name, self.nparams, self.returns_value, self.loc = name, nparams, returns_value, loc
        self.defined = False
        self.param_ptrs: list[int] = []
        self.ret_ptr = 0


class Lowerer:
    """One translation unit to an ir.Unit. Names resolve through a stack of scopes."""

    def __init__(self, file: str, prefix: str = ""):
        self.file = file
        self.prefix = prefix  # label prefix (the runtime's symbols stay apart from the user's)
        self.funcs: dict[str, _FuncInfo] = {}
        self.globals: list[ir.Symbol] = []
        self.scopes: list[dict] = [{}]
        self.functions: dict[str, ir.Function] = {}
        self.strings: dict[tuple, ir.Symbol] = {}
        self.current: ir.Function | None = None
        self.counter = 0
        self.loop_depth = 0
        self.cpp_defined_constants = True

    # ---- errors and helpers ------------------------------------------------------------------

    def loc(self, node) -> SourceLoc:
        return _loc(getattr(node, "coord", None), self.file)

    def unsupported(self, node, what: str):
        raise AsmError(self.loc(node), f"not supported: {what}")

    def error(self, node, message: str):
        raise AsmError(self.loc(node), message)

    def fresh(self, name: str) -> str:
        self.counter += 1
        owner = self.current.name if self.current else "g"
        return f"{self.prefix}{owner}.{name}.{self.counter}"

    # ---- types --------------------------------------------------------------------------------

    def base_type(self, node, allow_void=False) -> str:
        """'int' or 'void' for an IdentifierType (char is an int); anything else refused."""
        if isinstance(node, c_ast.TypeDecl):
            if node.quals and any(q not in ("const",) for q in node.quals):
                self.unsupported(node, f"type qualifier '{' '.join(node.quals)}'")
            node = node.type
        if isinstance(node, c_ast.Struct):
            self.unsupported(node, "struct")
        if isinstance(node, c_ast.Union):
            self.unsupported(node, "union")
        if isinstance(node, c_ast.Enum):
            self.unsupported(node, "enum")
        if not isinstance(node, c_ast.IdentifierType):
            self.unsupported(node, type(node).__name__)
        names = tuple(node.names)
        if names == ("void",) and allow_void:
            return "void"
        if names in INT_TYPES:
            return "int"
        bad = next((n for n in names if n in ("float", "double")), None) or " ".join(names)
        self.unsupported(node, bad)

    def declarator(self, node, allow_void=False):
        """(pointer depth, array size or None, base) of a declaration's type."""
        depth, size = 0, None
        if isinstance(node, c_ast.ArrayDecl):
            if node.dim_quals:
                self.unsupported(node, "array qualifiers")
            size = -1 if node.dim is None else self.const_value(node.dim)
            if node.dim is not None and size <= 0:
                self.error(node, f"array size must be positive, got {size}")
            node = node.type
            if isinstance(node, c_ast.ArrayDecl):
                self.unsupported(node, "multi-dimensional arrays")
        while isinstance(node, c_ast.PtrDecl):
            if node.quals and any(q != "const" for q in node.quals):
                self.unsupported(node, f"pointer qualifier '{' '.join(node.quals)}'")
            depth += 1
            node = node.type
        if isinstance(node, c_ast.FuncDecl):
            self.unsupported(node, "function pointers")
        if isinstance(node, c_ast.ArrayDecl):
            self.unsupported(node, "pointers to arrays")
        base = self.base_type(node, allow_void=allow_void or depth > 0)
        if base == "void" and depth == 0 and size is None and not allow_void:
            self.unsupported(node, "void objects")
        return depth, size, base

    # ---- constants ----------------------------------------------------------------------------

    def const_value(self, node) -> int:
        expr = self.expr(node)
        if not isinstance(expr, ir.Const):
            self.error(node, "expected a constant expression")
        return expr.value

    def constant(self, node) -> ir.Expr:
        loc = self.loc(node)
        if node.type == "string":
            return self.string_literal(node)
        text = node.value
        if node.type == "char":
            return _typed(ir.Const(loc, _char_value(text, self, node)), 0)
        if node.type in ("float", "double", "long double"):
            self.unsupported(node, "float")
        low = text.lower()
        if any(c in low for c in ".") or (low.startswith("0x") is False and "e" in low):
            self.unsupported(node, "float")
        if "u" in low:
            self.unsupported(node, "unsigned")
        if "l" in low:
            self.unsupported(node, "long")
        value = int(low, 16) if low.startswith("0x") else int(low, 8) if low.startswith("0") and len(low) > 1 else int(low)
        if value >= WORD // 2:  # C gives it a wider or unsigned type
            self.unsupported(node, f"integer constant {text} (larger than int)")
        return _typed(ir.Const(loc, wrap32(value)), 0)

    def string_literal(self, node) -> ir.Expr:
        data = _string_bytes(node.value, self, node)
        key = tuple(data)
        sym = self.strings.get(key)
        if sym is None:
            self.counter += 1
            sym = ir.Symbol(f"string {self.counter}", f"{self.prefix}str.{self.counter}", size=len(data) + 1,
                            is_array=True, init=list(data) + [0])
            self.strings[key] = sym
            self.globals.append(sym)
        return _typed(ir.AddrOf(self.loc(node), sym), 1)

    # ---- the translation unit -----------------------------------------------------------------

    def unit(self, ast: c_ast.FileAST) -> None:
        for ext in ast.ext:
            if isinstance(ext, c_ast.FuncDef):
                self.function(ext)
            elif isinstance(ext, c_ast.Decl):
                self.global_decl(ext)
            elif isinstance(ext, c_ast.Typedef):
                self.unsupported(ext, "typedef")
            elif isinstance(ext, c_ast.Pragma):
                self.unsupported(ext, "#pragma")
            else:
                self.unsupported(ext, type(ext).__name__)

    def declare_function(self, decl: c_ast.Decl, node) -> _FuncInfo:
        ftype = decl.type
        if decl.name in BUILTINS:
            return None  # <stdio.h>'s declarations
        if decl.storage and any(s not in ("extern", "static") for s in decl.storage):
            self.unsupported(decl, f"storage class '{' '.join(decl.storage)}'")
        if decl.funcspec:
            self.unsupported(decl, f"'{' '.join(decl.funcspec)}'")
        ret_depth, _, ret_base = self.declarator(ftype.type, allow_void=True)
        returns_value = not (ret_base == "void" and ret_depth == 0)
        params = []
        if ftype.args is not None:
            for p in ftype.args.params:
                if isinstance(p, c_ast.EllipsisParam):
                    self.unsupported(p, "variadic functions")
                if isinstance(p, c_ast.Typename) and _is_void(p.type):
                    continue
                if p.name is None and not isinstance(p, c_ast.Decl):
                    params.append(p)
                    continue
                params.append(p)
        name = decl.name
        if name in BUILTINS:
            return None  # <stdio.h>'s declarations
        info = self.funcs.get(name)
        if info is None:
            info = _FuncInfo(name, len(params), returns_value, self.loc(decl))
            info.ret_ptr = ret_depth
            self.funcs[name] = info
        elif info.nparams != len(params) or info.returns_value != returns_value:
            self.error(decl, f"conflicting declaration of '{name}' (first at line {info.loc.line})")
        if name in self.scopes[0] and not isinstance(self.scopes[0][name], _FuncInfo):
            self.error(decl, f"'{name}' is already declared as a variable")
        self.scopes[0][name] = info
        return info

    def global_decl(self, decl: c_ast.Decl) -> None:
        if isinstance(decl.type, c_ast.FuncDecl):
            self.declare_function(decl, decl)
            return
        if decl.name is None:
            self.base_type(decl.type)  # `struct s {...};` and the like
            self.unsupported(decl, "a declaration without a name")
        if decl.storage and any(s != "static" for s in decl.storage):
            self.unsupported(decl, f"storage class '{' '.join(decl.storage)}'")
        sym = self.make_symbol(decl, owner=None)
        sym.init = self.static_init(decl, sym)
        self.globals.append(sym)

    def make_symbol(self, decl: c_ast.Decl, owner) -> ir.Symbol:
        depth, size, _ = self.declarator(decl.type)
        if decl.bitsize is not None:
            self.unsupported(decl, "bit fields")
        if decl.name in self.scopes[-1]:
            self.error(decl, f"redefinition of '{decl.name}'")
        if size == -1:  # int a[] = {...}: the initializer's length
            size = self.init_length(decl)
        label = self.fresh(decl.name) if owner else f"{self.prefix}g.{decl.name}"
        sym = ir.Symbol(decl.name, label, size=size or 1, is_array=size is not None, owner=owner, ptr=depth)
        self.scopes[-1][decl.name] = sym
        if owner is not None:
            self.current.locals.append(sym)
        return sym

    def init_length(self, decl) -> int:
        init = decl.init
        if isinstance(init, c_ast.InitList):
            return len(init.exprs)
        if isinstance(init, c_ast.Constant) and init.type == "string":
            return len(_string_bytes(init.value, self, init)) + 1
        self.error(decl, f"array '{decl.name}' needs a size or an initializer")

    def init_values(self, decl, sym) -> list:
        """The initializer as a list of IR expressions (an array's, padded with zeros)."""
        init = decl.init
        if init is None:
            return []
        if sym.is_array:
            if isinstance(init, c_ast.Constant) and init.type == "string":
                data = _string_bytes(init.value, self, init)
                if len(data) > sym.size:
                    self.error(init, f"string of {len(data)} characters does not fit '{sym.name}[{sym.size}]'")
                items = [_typed(ir.Const(self.loc(init), b), 0) for b in data]
            elif isinstance(init, c_ast.InitList):
                if len(init.exprs) > sym.size:
                    self.error(init, f"{len(init.exprs)} initializers for '{sym.name}[{sym.size}]'")
                items = []
                for e in init.exprs:
                    if isinstance(e, (c_ast.InitList, c_ast.NamedInitializer)):
                        self.unsupported(e, "nested or designated initializers")
                    items.append(self.expr(e))
            else:
                self.error(init, f"array '{sym.name}' needs a {{...}} or string initializer")
            zero = _typed(ir.Const(self.loc(init), 0), 0)
            return items + [zero] * (sym.size - len(items))
        if isinstance(init, c_ast.InitList):
            self.unsupported(init, "a {...} initializer for a scalar")
        return [self.expr(init)]

    def static_init(self, decl, sym) -> list:
        values = []
        for e in self.init_values(decl, sym):
            if isinstance(e, ir.Const):
                values.append(e.value)
            elif isinstance(e, ir.AddrOf):
                e.sym.addr_taken = True
                values.append(("addr", e.sym.label, 0))
            elif (isinstance(e, ir.Binary) and e.op in "+-" and isinstance(e.a, ir.AddrOf)
                  and isinstance(e.b, ir.Const)):
                values.append(("addr", e.a.sym.label, e.b.value if e.op == "+" else -e.b.value))
            else:
                self.error(decl.init, "a static initializer must be a constant or an address")
        return values

    # ---- functions ----------------------------------------------------------------------------

    def function(self, node: c_ast.FuncDef) -> None:
        decl = node.decl
        if node.param_decls:
            self.unsupported(node, "old-style parameter declarations")
        info = self.declare_function(decl, node)
        if info is None:
            self.error(decl, f"'{decl.name}' is provided by <stdio.h> and cannot be redefined")
        if info.defined:
            self.error(decl, f"redefinition of function '{decl.name}'")
        info.defined = True
        if decl.name == "main" and info.nparams:
            self.unsupported(decl, "parameters of main")
        fn = ir.Function(decl.name, [], [], self.loc(decl), returns_value=info.returns_value)
        self.current = fn
        self.functions[decl.name] = fn
        self.scopes.append({})
        args = decl.type.args.params if decl.type.args is not None else []
        for p in args:
            if isinstance(p, c_ast.Typename) and _is_void(p.type):
                continue
            if not isinstance(p, c_ast.Decl) or p.name is None:
                self.error(p, "a parameter needs a name")
            depth, size, _ = self.declarator(p.type)
            if size is not None:  # int a[] as a parameter is a pointer
                depth += 1
            sym = ir.Symbol(p.name, self.fresh(p.name), owner=fn.name, ptr=depth)
            if p.name in self.scopes[-1]:
                self.error(p, f"redefinition of parameter '{p.name}'")
            self.scopes[-1][p.name] = sym
            fn.params.append(sym)
            fn.locals.append(sym)
        info.param_ptrs = [s.ptr for s in fn.params]
        fn.body = self.block(node.body.block_items or [])
        self.scopes.pop()
        self.current = None

    def block(self, items) -> list:
        self.scopes.append({})
        out = []
        for item in items:
            out.extend(self.statement(item))
        self.scopes.pop()
        return out

    def local_decl(self, decl: c_ast.Decl) -> list:
        if isinstance(decl.type, c_ast.FuncDecl):
            self.unsupported(decl, "function declarations inside a function")
        if decl.storage and any(s != "static" for s in decl.storage):
            self.unsupported(decl, f"storage class '{' '.join(decl.storage)}'")
        is_static = bool(decl.storage)
        if is_static:
            sym = self.make_symbol(decl, owner=None)  # shared by every activation, as C says
            sym.label = self.fresh(decl.name)
            sym.init = self.static_init(decl, sym)
            self.globals.append(sym)
            return []
        sym = self.make_symbol(decl, owner=self.current.name)
        # The initializer is evaluated with the new name in scope (C's rule), as code each time.
        values = self.init_values(decl, sym)
        loc = self.loc(decl)
        out = []
        if sym.is_array:
            for k, v in enumerate(values):
                target = _typed(ir.Load(loc, _typed(ir.Binary(loc, "+", _typed(ir.AddrOf(loc, sym), 1),
                                                              _typed(ir.Const(loc, k), 0)), 1)), sym.ptr)
                out.append(ir.ExprStmt(loc, ir.Assign(loc, target, v)))
        elif values:
            out.append(ir.ExprStmt(loc, ir.Assign(loc, _typed(ir.Var(loc, sym), sym.ptr), values[0])))
        return out

    # ---- statements ---------------------------------------------------------------------------

    def statement(self, node) -> list:
        loc = self.loc(node)
        if isinstance(node, c_ast.Decl):
            return self.local_decl(node)
        if isinstance(node, c_ast.Compound):
            return self.block(node.block_items or [])
        if isinstance(node, c_ast.EmptyStatement):
            return []
        if isinstance(node, c_ast.If):
            return [ir.If(loc, self.cond(node.cond), self.sub_statement(node.iftrue),
                          self.sub_statement(node.iffalse) if node.iffalse else [])]
        if isinstance(node, c_ast.While):
            return [ir.Loop(loc, self.cond(node.cond), self.loop_body(node.stmt))]
        if isinstance(node, c_ast.DoWhile):
            return [ir.Loop(loc, self.cond(node.cond), self.loop_body(node.stmt), test_first=False)]
        if isinstance(node, c_ast.For):
            self.scopes.append({})
            init = []
            if isinstance(node.init, c_ast.DeclList):
                for d in node.init.decls:
                    init.extend(self.local_decl(d))
            elif node.init is not None:
                init = [ir.ExprStmt(loc, self.expr(node.init))]
            cond = self.cond(node.cond) if node.cond is not None else None
            step = self.expr(node.next) if node.next is not None else None
            body = self.loop_body(node.stmt)
            self.scopes.pop()
            return init + [ir.Loop(loc, cond, body, step=step)]
        if isinstance(node, c_ast.Break):
            if not self.loop_depth:
                self.error(node, "'break' outside a loop")
            return [ir.Break(loc)]
        if isinstance(node, c_ast.Continue):
            if not self.loop_depth:
                self.error(node, "'continue' outside a loop")
            return [ir.Continue(loc)]
        if isinstance(node, c_ast.Return):
            fn = self.current
            if node.expr is None:
                if fn.returns_value and fn.name != "main":
                    self.error(node, f"'{fn.name}' must return a value")
                return [ir.Return(loc, None)]
            if not fn.returns_value:
                self.error(node, f"'{fn.name}' returns void, not a value")
            return [ir.Return(loc, self.value(node.expr))]
        if isinstance(node, (c_ast.Switch, c_ast.Case, c_ast.Default)):
            self.unsupported(node, "switch")
        if isinstance(node, (c_ast.Goto, c_ast.Label)):
            self.unsupported(node, "goto and labels")
        if isinstance(node, c_ast.FuncCall):
            return self.call_statement(node)
        if isinstance(node, c_ast.Pragma):
            self.unsupported(node, "#pragma")
        return [ir.ExprStmt(loc, self.expr(node))]

    def sub_statement(self, node) -> list:
        self.scopes.append({})
        out = self.statement(node)
        self.scopes.pop()
        return out

    def loop_body(self, node) -> list:
        self.loop_depth += 1
        out = self.sub_statement(node)
        self.loop_depth -= 1
        return out

    def call_statement(self, node) -> list:
        """A call whose value is unused: printf, puts and putchar become output statements."""
        name = node.name.name if isinstance(node.name, c_ast.ID) else None
        loc = self.loc(node)
        args = node.args.exprs if node.args else []
        if name in ("printf", "puts", "putchar") and not self.is_shadowed(name):
            if name == "putchar":
                self.check_args(node, name, args, 1)
                return [ir.Output(loc, [self.value(args[0])])]
            if name == "puts":
                self.check_args(node, name, args, 1)
                return self.print_string(args[0]) + [ir.Output(loc, [10])]
            return self.printf(node, args)
        return [ir.ExprStmt(loc, self.expr(node))]

    def is_shadowed(self, name) -> bool:
        return any(name in s for s in self.scopes[1:])

    def print_string(self, node) -> list:
        loc = self.loc(node)
        if isinstance(node, c_ast.Constant) and node.type == "string":
            return [ir.Output(loc, list(_string_bytes(node.value, self, node)))]
        arg = self.value(node)
        return [ir.ExprStmt(loc, ir.Call(loc, "__print_str", [arg]))]

    def printf(self, node, args) -> list:
        loc = self.loc(node)
        if not args:
            self.error(node, "printf needs a format string")
        fmt = args[0]
        if not (isinstance(fmt, c_ast.Constant) and fmt.type == "string"):
            self.unsupported(fmt, "a printf format that is not a string literal")
        data = _string_bytes(fmt.value, self, fmt)
        rest = list(args[1:])
        out, text, k = [], [], 0
        conversions = 0
        while k < len(data):
            ch = data[k]
            if ch != ord("%"):
                text.append(ch)
                k += 1
                continue
            spec = chr(data[k + 1]) if k + 1 < len(data) else ""
            k += 2
            if spec == "%":
                text.append(ord("%"))
                continue
            if spec not in ("d", "i", "c", "s", "x"):
                self.unsupported(fmt, f"printf conversion '%{spec}' (only %d %c %s %x %%)")
            if conversions >= len(rest):
                self.error(fmt, f"printf: too few arguments for the format (conversion {conversions + 1})")
            arg = rest[conversions]
            conversions += 1
            if text:
                out.append(ir.Output(loc, text))
                text = []
            aloc = self.loc(arg)
            if spec == "c":
                out.append(ir.Output(aloc, [self.value(arg)]))
            elif spec == "s":
                out.extend(self.print_string(arg))
            else:
                fn = "__print_int" if spec in "di" else "__print_hex"
                out.append(ir.ExprStmt(aloc, ir.Call(aloc, fn, [self.value(arg)])))
        if text:
            out.append(ir.Output(loc, text))
        if conversions != len(rest):
            self.error(rest[conversions], "printf: more arguments than the format uses")
        return out

    def check_args(self, node, name, args, count):
        if len(args) != count:
            self.error(node, f"'{name}' takes {count} argument{'s' if count != 1 else ''}, got {len(args)}")

    # ---- expressions --------------------------------------------------------------------------

    def cond(self, node) -> ir.Expr:
        return self.value(node)

    def value(self, node) -> ir.Expr:
        """An expression used for its value: arrays decay, void calls are refused."""
        e = self.expr(node)
        if getattr(e, "void", False):
            self.error(node, "a void value is used")
        return e

    def lookup(self, node):
        for scope in reversed(self.scopes):
            if node.name in scope:
                return scope[node.name]
        return None

    def expr(self, node) -> ir.Expr:
        loc = self.loc(node)
        if isinstance(node, c_ast.Constant):
            return self.constant(node)
        if isinstance(node, c_ast.ID):
            found = self.lookup(node)
            if found is None:
                if node.name in BUILTIN_CONSTANTS:
                    return _typed(ir.Const(loc, BUILTIN_CONSTANTS[node.name]), 0)
                if node.name in BUILTINS:
                    self.unsupported(node, "function pointers")
                raise AsmError(loc, f"undeclared identifier '{node.name}'")
            if isinstance(found, _FuncInfo):
                self.unsupported(node, "function pointers")
            if found.is_array:
                return _typed(ir.AddrOf(loc, found), found.ptr + 1, array=True)
            return _typed(ir.Var(loc, found), found.ptr, lvalue=True)
        if isinstance(node, c_ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, c_ast.BinaryOp):
            return self.binary(node)
        if isinstance(node, c_ast.Assignment):
            target = self.lvalue(node.lvalue)
            value = self.value(node.rvalue)
            op = None if node.op == "=" else node.op[:-1]
            if op in ("+", "-") and target.ptr and value.ptr:
                self.error(node, "pointer += pointer")
            return _typed(ir.Assign(loc, target, value, op), target.ptr)
        if isinstance(node, c_ast.TernaryOp):
            a, b = self.value(node.iftrue), self.value(node.iffalse)
            return self.fold(_typed(ir.Cond(loc, self.cond(node.cond), a, b), max(a.ptr, b.ptr)))
        if isinstance(node, c_ast.ArrayRef):
            base, index = self.value(node.name), self.value(node.subscript)
            if index.ptr and not base.ptr:
                base, index = index, base
            if not base.ptr:
                self.error(node, "subscript of something that is not an array or a pointer")
            if index.ptr:
                self.error(node, "array subscript is a pointer")
            addr = self.fold(_typed(ir.Binary(loc, "+", base, index), base.ptr))
            return _typed(ir.Load(loc, addr), base.ptr - 1, lvalue=True)
        if isinstance(node, c_ast.FuncCall):
            return self.call(node)
        if isinstance(node, c_ast.Cast):
            depth, size, base = self.declarator(node.to_type.type, allow_void=True)
            names = getattr(getattr(node.to_type.type, "type", None), "names", [])
            if depth == 0 and "char" in names:
                self.unsupported(node, "casts to char (char is an int here)")
            if base == "void" and depth == 0:
                e = self.expr(node.expr)
                return _typed(ir.Seq(loc, [e]), 0, void=True)
            e = self.value(node.expr)
            return _typed(ir.Seq(loc, [e]) if getattr(e, "lvalue", False) else e, depth)
        if isinstance(node, c_ast.ExprList):
            items = [self.expr(e) for e in node.exprs]
            return _typed(ir.Seq(loc, items), items[-1].ptr, void=getattr(items[-1], "void", False))
        if isinstance(node, c_ast.StructRef):
            self.unsupported(node, "struct")
        if isinstance(node, c_ast.CompoundLiteral):
            self.unsupported(node, "compound literals")
        if isinstance(node, (c_ast.InitList, c_ast.NamedInitializer)):
            self.unsupported(node, "an initializer list here")
        if isinstance(node, c_ast.Typename):
            self.unsupported(node, "a type here")
        self.unsupported(node, type(node).__name__)

    def lvalue(self, node) -> ir.Expr:
        e = self.expr(node)
        if getattr(e, "array", False):
            self.error(node, "an array cannot be assigned to")
        if not getattr(e, "lvalue", False):
            self.error(node, "expected a variable, an array element or *pointer to assign to")
        return e

    def unary(self, node) -> ir.Expr:
        loc, op = self.loc(node), node.op
        if op == "sizeof":
            self.unsupported(node, "sizeof")
        if op in ("++", "--", "p++", "p--"):
            target = self.lvalue(node.expr)
            return _typed(ir.IncDec(loc, target, 1 if "++" in op else -1, op.startswith("p")), target.ptr)
        if op == "&":
            e = self.expr(node.expr)
            if isinstance(e, ir.Var):
                e.sym.addr_taken = True
                return _typed(ir.AddrOf(loc, e.sym), e.ptr + 1)
            if isinstance(e, ir.Load):
                return e.addr
            if getattr(e, "array", False):
                self.unsupported(node, "pointers to arrays")
            self.error(node, "cannot take the address of this expression")
        if op == "*":
            e = self.value(node.expr)
            if not e.ptr:
                self.error(node, "cannot dereference a value that is not a pointer")
            return _typed(ir.Load(loc, e), e.ptr - 1, lvalue=True)
        a = self.value(node.expr)
        if op == "+":
            return a if not getattr(a, "lvalue", False) else _typed(ir.Seq(loc, [a]), a.ptr)
        if op in ("-", "~", "!"):
            if a.ptr and op != "!":
                self.error(node, f"unary '{op}' of a pointer")
            return self.fold(_typed(ir.Unary(loc, op, a), 0))
        self.unsupported(node, f"operator '{op}'")

    def binary(self, node) -> ir.Expr:
        loc, op = self.loc(node), node.op
        a, b = self.value(node.left), self.value(node.right)
        if op in ("&&", "||"):
            return self.fold(_typed(ir.Logical(loc, op, a, b), 0))
        ptr = 0
        if op == "+":
            if a.ptr and b.ptr:
                self.error(node, "pointer + pointer")
            ptr = a.ptr or b.ptr
        elif op == "-":
            ptr = 0 if (a.ptr and b.ptr) else a.ptr
            if b.ptr and not a.ptr:
                self.error(node, "integer - pointer")
        elif op not in ("<", "<=", ">", ">=", "==", "!=") and (a.ptr or b.ptr):
            self.error(node, f"operator '{op}' on a pointer")
        if op not in RUNTIME_OPS and op not in ("+", "-", "<", "<=", ">", ">=", "==", "!="):
            self.unsupported(node, f"operator '{op}'")
        return self.fold(_typed(ir.Binary(loc, op, a, b), ptr))

    def call(self, node) -> ir.Expr:
        loc = self.loc(node)
        if not isinstance(node.name, c_ast.ID):
            self.unsupported(node, "calls through pointers")
        name = node.name.name
        args = node.args.exprs if node.args else []
        found = self.lookup(node.name)
        if found is None and name in BUILTINS:
            if name == "getchar":
                self.check_args(node, name, args, 0)
                return _typed(ir.GetChar(loc), 0)
            self.unsupported(node, f"using the value of {name}() (call it as a statement)")
        if found is None:
            raise AsmError(loc, f"undeclared function '{name}'")
        if not isinstance(found, _FuncInfo):
            self.error(node, f"'{name}' is not a function")
        if len(args) != found.nparams:
            self.error(node, f"'{name}' takes {found.nparams} argument{'s' if found.nparams != 1 else ''}, "
                             f"got {len(args)}")
        e = ir.Call(loc, name, [self.value(a) for a in args])
        return _typed(e, found.ret_ptr, void=not found.returns_value)

    # ---- constant folding ---------------------------------------------------------------------

    def fold(self, e: ir.Expr) -> ir.Expr:
        """Operations on constants computed now, with C's (and gcc's -fwrapv) results."""
        ptr = e.ptr
        if isinstance(e, ir.Unary) and isinstance(e.a, ir.Const):
            v = e.a.value
            value = -v if e.op == "-" else ~v if e.op == "~" else int(not v)
            return _typed(ir.Const(e.loc, wrap32(value)), 0)
        if isinstance(e, ir.Binary) and isinstance(e.a, ir.Const) and isinstance(e.b, ir.Const):
            value = _fold_binary(e.op, e.a.value, e.b.value)
            if value is not None:
                return _typed(ir.Const(e.loc, value), ptr)
        if isinstance(e, ir.Logical) and isinstance(e.a, ir.Const):
            if e.op == "&&" and not e.a.value:
                return _typed(ir.Const(e.loc, 0), 0)
            if e.op == "||" and e.a.value:
                return _typed(ir.Const(e.loc, 1), 0)
            if isinstance(e.b, ir.Const):
                return _typed(ir.Const(e.loc, int(bool(e.b.value))), 0)
        if isinstance(e, ir.Cond) and isinstance(e.cond, ir.Const):
            return e.a if e.cond.value else e.b
        return e


def _fold_binary(op: str, a: int, b: int):
    if op in ("/", "%"):
        if b == 0 or (a == -(1 << 31) and b == -1):
            return None  # undefined: left to run time
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        return wrap32(q if op == "/" else a - q * b)
    if op in ("<<", ">>") and not 0 <= b < 32:
        return None
    table = {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "&": lambda: a & b,
        "|": lambda: a | b, "^": lambda: a ^ b, "<<": lambda: a << b, ">>": lambda: a >> b,
        "<": lambda: int(a < b), "<=": lambda: int(a <= b), ">": lambda: int(a > b),
        ">=": lambda: int(a >= b), "==": lambda: int(a == b), "!=": lambda: int(a != b),
    }
    return wrap32(table[op]())


def _typed(e, ptr: int, lvalue=False, array=False, void=False):
    e.ptr, e.lvalue, e.array, e.void = ptr, lvalue, array, void
    return e


def _is_void(node) -> bool:
    return (isinstance(node, c_ast.TypeDecl) and isinstance(node.type, c_ast.IdentifierType)
            and node.type.names == ["void"])


_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8, "f": 12,
            "v": 11, "?": 63, "e": 27}


def _unescape(body: str, owner, node) -> list[int]:
    out, k = [], 0
    while k < len(body):
        ch = body[k]
        if ch != "\\":
            out.extend(ch.encode("utf-8"))
            k += 1
            continue
        nxt = body[k + 1]
        if nxt in "01234567":
            j = k + 1
            while j < len(body) and j < k + 4 and body[j] in "01234567":
                j += 1
            out.append(int(body[k + 1:j], 8) & 255)
            k = j
        elif nxt == "x":
            j = k + 2
            while j < len(body) and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(body[k + 2:j], 16) & 255)
            k = j
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            k += 2
        else:
            owner.error(node, f"unknown escape sequence '\\{nxt}'")
    return out


def _string_bytes(text: str, owner, node) -> list[int]:
    """A string literal's chars as gcc's signed chars (bytes 128 .. 255 are -128 .. -1)."""
    if text.startswith("L") or text.startswith("u"):
        owner.unsupported(node, "wide strings")
    return [b - 256 if b >= 128 else b for b in _unescape(text[1:-1], owner, node)]


def _char_value(text: str, owner, node) -> int:
    if not text.startswith("'"):
        owner.unsupported(node, "wide characters")
    data = _unescape(text[1:-1], owner, node)
    if len(data) != 1:
        owner.unsupported(node, f"multi-character constant {text}")
    value = data[0]
    return value - 256 if value >= 128 else value  # char is signed, as gcc's on x86


def lower(text: str, file: str, prefix: str = "") -> Lowerer:
    ast = parse(text, file)
    lowerer = Lowerer(file, prefix)
    lowerer.unit(ast)  # a declared function without a body is reported where it is called (codegen)
    return lowerer
