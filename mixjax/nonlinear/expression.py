"""``"response ~ expression"`` for nonlinear models, read by a restricted parser that never evaluates code.

The right-hand side is parsed with Python's ``ast`` (R's ``^`` read as a power) and only these constructs are
accepted: numbers, names (data columns or parameters), ``+ - * / **``, unary minus, and calls of ``exp``, ``log``,
``sqrt``, ``log10``, ``log2``, ``expm1``, ``log1p``, ``sin``, ``cos``, ``tan``, ``abs``, and the self-starting
functions of ``selfstart`` (``SSlogis(age, Asym, xmid, scal)`` and the others, with their arguments). Anything else (attributes,
subscripts, other calls, comparisons, lambdas) is refused naming the construct. The result evaluates with JAX on a
dict of arrays, so it is differentiable and jit-compatible.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import jax.numpy as jnp

from .selfstart import SELF_START, initial_values

__all__ = ["ModelExpression", "parse_model", "FUNCTIONS"]

FUNCTIONS = {
    "exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt, "log10": jnp.log10, "log2": jnp.log2, "expm1": jnp.expm1,
    "log1p": jnp.log1p, "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan, "abs": jnp.abs,
}
_BINARY = {ast.Add: jnp.add, ast.Sub: jnp.subtract, ast.Mult: jnp.multiply, ast.Div: jnp.divide, ast.Pow: jnp.power}


@dataclass(frozen=True, eq=False)
class ModelExpression:
    """A parsed model: ``response`` (a column name), ``text`` of the right-hand side, its ``symbols`` (names other
    than functions) and the syntax tree. ``evaluate(values)`` computes it from a dict name -> array."""

    response: str
    text: str
    symbols: tuple[str, ...]
    tree: ast.Expression

    def evaluate(self, values: dict):
        return _evaluate(self.tree.body, values)

    __call__ = evaluate

    @property
    def self_starting(self) -> str | None:
        """The self-starting function's name when the model is one such call with parameter names as its
        parameter arguments (``SSlogis(age, Asym, xmid, scal)``), else None."""
        node = self.tree.body
        if isinstance(node, ast.Call) and node.func.id in SELF_START:
            if all(isinstance(a, ast.Name) for a in node.args[len(SELF_START[node.func.id].inputs):]):
                return node.func.id
        return None

    def start_values(self, columns: dict, y) -> dict:
        """Start values of the self-starting call's parameters (named as in the model) from the pooled data."""
        node = self.tree.body
        ss = SELF_START[self.self_starting]
        k = len(ss.inputs)
        inputs = [jnp.broadcast_to(_evaluate(a, columns), jnp.shape(y)) for a in node.args[:k]]
        values = initial_values(ss, inputs, y)
        return {a.id: values[p] for a, p in zip(node.args[k:], ss.params)}

    def __eq__(self, other):  # equal text, equal model: compiled programs are shared between fits
        return isinstance(other, ModelExpression) and (self.response, self.text) == (other.response, other.text)

    def __hash__(self):
        return hash((self.response, self.text))


def _evaluate(node, values):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, values)
        return -value if isinstance(node.op, ast.USub) else value
    args = [_evaluate(a, values) for a in node.args]  # ast.Call, checked by _check
    return SELF_START[node.func.id].mean(*args) if node.func.id in SELF_START else FUNCTIONS[node.func.id](*args)


def _check(node, text: str) -> None:
    """Refuse every construct but numbers, names, arithmetic and calls of FUNCTIONS with one argument."""
    where = f"in the model {text!r}"
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
            raise ValueError(f"{node.value!r} {where} is not a number; only numbers, names and arithmetic are allowed.")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS or node.id in SELF_START:
            raise ValueError(f"function {node.id!r} {where} must be called, as {node.id}(x).")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise ValueError(f"operator {type(node.op).__name__} {where} is not allowed; use + - * / ^.")
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise ValueError(f"operator {type(node.op).__name__} {where} is not allowed; use + - * / ^.")
        _check(node.operand, text)
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        if name in SELF_START:
            ss = SELF_START[name]
            if len(node.args) != ss.n_args or node.keywords:
                raise ValueError(f"{name}() {where} takes {ss.n_args} arguments: {name}({', '.join(ss.inputs + ss.params)}).")
        elif name not in FUNCTIONS:
            raise ValueError(
                f"function {name!r} {where} is not allowed; the functions are: {', '.join(FUNCTIONS)} and the "
                f"self-starting {', '.join(SELF_START)}."
            )
        elif len(node.args) != 1 or node.keywords:
            raise ValueError(f"{name}() {where} takes exactly one argument.")
        for arg in node.args:
            _check(arg, text)
    else:
        raise ValueError(
            f"{ast.unparse(node)!r} {where} is not allowed: a model is numbers, column and parameter names, "
            f"+ - * / ^ and the functions {', '.join(FUNCTIONS)}."
        )


def parse_model(model: str) -> ModelExpression:
    """Parse ``"response ~ expression"``. Raises ``ValueError`` naming what is malformed or not allowed."""
    if not isinstance(model, str) or model.count("~") != 1:
        raise ValueError(f"model must be a string 'response ~ expression', got {model!r}.")
    lhs, rhs = (side.strip() for side in model.split("~"))
    if not lhs.isidentifier():
        raise ValueError(f"the response {lhs!r} of the model must be a column name.")
    try:
        tree = ast.parse(rhs.replace("^", "**"), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot parse the model's right-hand side {rhs!r}: {err.msg}.") from err
    _check(tree.body, model)
    symbols = tuple(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in FUNCTIONS
                                   and n.id not in SELF_START))
    return ModelExpression(lhs, rhs, symbols, tree)
