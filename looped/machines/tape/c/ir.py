"""The C compiler's IR: a typed, name-resolved tree, what the front end (frontend.py) makes of
pycparser's syntax tree and the back end (codegen.py) turns into SUBLEQ.

Every value is one 32-bit word and every object one or more memory cells: `int`, `char` and
pointers are all a cell, so pointer arithmetic needs no scaling (an element is one cell).
Each node carries `loc` (a SourceLoc of the user's file) for errors and the source map.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from looped.errors import SourceLoc


@dataclass(eq=False)
class Symbol:
    """A named object: a scalar (one cell) or an array (`size` cells). `owner` is the function
    whose static frame holds it (None for a global); `init` the load-time values (globals and
    static locals). `label` names its first cell on the tape."""

    name: str
    label: str
    size: int = 1
    is_array: bool = False
    owner: str | None = None
    init: list = field(default_factory=list)  # ints, or ("addr", label) for an address
    addr_taken: bool = False
    ptr: int = 0  # pointer depth of a scalar, of the element of an array


# ---- expressions ------------------------------------------------------------------------------


@dataclass(eq=False)
class Expr:
    loc: SourceLoc


@dataclass(eq=False)
class Const(Expr):
    value: int


@dataclass(eq=False)
class Var(Expr):
    sym: Symbol


@dataclass(eq=False)
class AddrOf(Expr):
    """The address of a symbol's first cell (an array's decay, `&x`, a string literal)."""

    sym: Symbol


@dataclass(eq=False)
class Load(Expr):
    """`*addr`: also the lvalue of an array element or a dereference."""

    addr: Expr


@dataclass(eq=False)
class Unary(Expr):
    op: str  # "-", "~", "!"
    a: Expr


@dataclass(eq=False)
class Binary(Expr):
    op: str  # + - * / % & | ^ << >> < <= > >= == !=
    a: Expr
    b: Expr


@dataclass(eq=False)
class Logical(Expr):
    op: str  # "&&", "||"
    a: Expr
    b: Expr


@dataclass(eq=False)
class Cond(Expr):
    cond: Expr
    a: Expr
    b: Expr


@dataclass(eq=False)
class Assign(Expr):
    """target = value, or target op= value (op: the binary operator, None for plain `=`)."""

    target: Expr  # Var or Load
    value: Expr
    op: str | None = None


@dataclass(eq=False)
class IncDec(Expr):
    target: Expr
    delta: int  # +1 or -1
    post: bool


@dataclass(eq=False)
class Call(Expr):
    func: str
    args: list


@dataclass(eq=False)
class GetChar(Expr):
    pass


@dataclass(eq=False)
class Seq(Expr):
    """The comma operator: every expression in turn, the value of the last."""

    items: list


# ---- statements -------------------------------------------------------------------------------


@dataclass(eq=False)
class Stmt:
    loc: SourceLoc


@dataclass(eq=False)
class ExprStmt(Stmt):
    expr: Expr


@dataclass(eq=False)
class If(Stmt):
    cond: Expr
    then: list
    other: list


@dataclass(eq=False)
class Loop(Stmt):
    """while (test_first), do-while (not test_first) and for (`step` after the body)."""

    cond: Expr | None
    body: list
    step: Expr | None = None
    test_first: bool = True


@dataclass(eq=False)
class Break(Stmt):
    pass


@dataclass(eq=False)
class Continue(Stmt):
    pass


@dataclass(eq=False)
class Return(Stmt):
    value: Expr | None


@dataclass(eq=False)
class Output(Stmt):
    """Write bytes: each item an int (a byte known at compile time) or an Expr (its value mod 256)."""

    items: list


@dataclass(eq=False)
class Function:
    name: str
    params: list  # Symbols
    body: list  # Stmts
    loc: SourceLoc
    locals: list = field(default_factory=list)  # every Symbol of its static frame (params first)
    returns_value: bool = True


@dataclass(eq=False)
class Unit:
    """A whole program: its functions (user's and runtime's) and global symbols."""

    functions: dict  # name -> Function
    globals: list  # Symbols (globals, static locals, string literals)
    file: str = "<c>"
