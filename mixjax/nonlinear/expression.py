"""``"response ~ expression"`` for nonlinear models, read by a restricted parser that never evaluates code.

The right-hand side is parsed with Python's ``ast`` (R's ``^`` read as a power) and only these constructs are
accepted: numbers, names (data columns or parameters), ``+ - * / **``, unary minus, and calls of ``exp``, ``log``,
``sqrt``, ``log10``, ``log2``, ``expm1``, ``log1p``, ``sin``, ``cos``, ``tan``, ``abs``. Anything else (attributes,
subscripts, other calls, comparisons, lambdas) is refused naming the construct. The result evaluates with JAX on a
dict of arrays, so it is differentiable and jit-compatible.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

import jax.numpy as jnp

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
    return FUNCTIONS[node.func.id](_evaluate(node.args[0], values))  # ast.Call, checked by _check


def _check(node, text: str) -> None:
    """Refuse every construct but numbers, names, arithmetic and calls of FUNCTIONS with one argument."""
    where = f"in the model {text!r}"
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
            raise ValueError(f"{node.value!r} {where} is not a number; only numbers, names and arithmetic are allowed.")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
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
        if name not in FUNCTIONS:
            raise ValueError(f"function {name!r} {where} is not allowed; the functions are: {', '.join(FUNCTIONS)}.")
        if len(node.args) != 1 or node.keywords:
            raise ValueError(f"{name}() {where} takes exactly one argument.")
        _check(node.args[0], text)
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
    symbols = tuple(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in FUNCTIONS))
    return ModelExpression(lhs, rhs, symbols, tree)
