# References for Stata's residuals(toeplitz #), residuals(banded #) and residuals(..., by()) in mixjax.stata
# (tests/test_stata.py). nlme has no banded / by-level residual structures, so the Gaussian (RE)ML log-likelihood
# of the marginal model (random intercept per Subject + the residual structure) is written with dense algebra and
# maximized by nlminb from several starts; the function is first checked against nlme::lme on a structure nlme has
# (corAR1). toeplitz 3 on the 4 occasions of Orthodont (every stationary correlation) is gls(corARMA(p = 3)): the
# random intercept only adds a constant to a Toeplitz covariance, so the two share the maximum and the marginal
# covariance (the split into intercept variance and residual is not identified there).
# Run from the repository root: Rscript tests/reference/make_stata_residuals.R
library(nlme); library(jsonlite)

O <- read.csv("mixjax/datasets/data/Orthodont.csv")
O$Subject <- factor(O$Subject, levels = unique(O$Subject))
O$occ <- (O$age - 8) %/% 2 + 1

# ------------------------------------------------------------------ the marginal Gaussian (RE)ML log-likelihood
loglik <- function(D, Vfun, reml, full = FALSE) {
  X <- model.matrix(~ age, D); y <- D$distance; p <- ncol(X); n <- length(y)
  XtVX <- matrix(0, p, p); XtVy <- numeric(p); yy <- 0; logdet <- 0
  for (g in split(seq_len(n), D$Subject)) {
    if (!length(g)) next
    R <- tryCatch(chol(Vfun(D[g, ])), error = function(e) NULL)  # NULL also where the residual part is not PD
    if (is.null(R)) return(-Inf)
    Xi <- backsolve(R, X[g, , drop = FALSE], transpose = TRUE); yi <- backsolve(R, y[g], transpose = TRUE)
    XtVX <- XtVX + crossprod(Xi); XtVy <- XtVy + crossprod(Xi, yi); yy <- yy + sum(yi^2)
    logdet <- logdet + 2 * sum(log(diag(R)))
  }
  beta <- solve(XtVX, XtVy); q <- yy - sum(XtVy * beta)
  ll <- if (reml) -0.5 * ((n - p) * log(2 * pi) + logdet + as.numeric(determinant(XtVX)$modulus) + q)
        else -0.5 * (n * log(2 * pi) + logdet + q)
  if (full) list(logLik = ll, fixef = setNames(as.list(drop(beta)), c("(Intercept)", "age"))) else ll
}

lagmat <- function(d) abs(outer(d$occ, d$occ, "-"))
# the marginal covariance of a group: intercept variance + the residual covariance, which must itself be positive
# definite (a covariance matrix, as Stata requires), else NA (chol fails: -Inf)
marginal <- function(tau2, S) if (min(eigen(S, symmetric = TRUE, only.values = TRUE)$values) > 0) tau2 + S else S * NA

fit <- function(D, Vpar, par0, reml, natural) {
  nll <- function(par) { v <- -loglik(D, Vpar(par), reml); if (is.finite(v)) v else 1e10 }
  best <- NULL
  set.seed(1)
  for (k in 1:20) {  # several starts: the banded likelihood has local maxima
    start <- if (k == 1) par0 else par0 + rnorm(length(par0), sd = 1)
    o <- nlminb(start, nll, control = list(rel.tol = 1e-14, eval.max = 5000, iter.max = 2000))
    o <- optim(o$par, nll, method = "BFGS", control = list(reltol = 1e-15, maxit = 2000))
    if (is.null(best) || o$value < best$value) best <- o
  }
  out <- loglik(D, Vpar(best$par), reml, full = TRUE)
  c(list(method = if (reml) "REML" else "ML"), out, list(params = natural(best$par)))
}

# ------------------------------------------------------------------ structures (par: unconstrained)
toeplitz1 <- function(par) function(d) {
  L <- lagmat(d); marginal(exp(par[1]), exp(par[2]) * ((L == 0) + tanh(par[3]) * (L == 1)))
}
toeplitz1_nat <- function(par) list(var_cons = exp(par[1]), var_e = exp(par[2]), rho1 = tanh(par[3]))

# banded 1 as L D L' with L unit lower bidiagonal (every positive-definite tridiagonal covariance has such a factor):
# always positive definite, so the optimizer never meets the boundary (per-pair correlations stalled there)
banded1_cov <- function(par) { L <- diag(4); L[cbind(2:4, 1:3)] <- par[6:8]; L %*% diag(exp(par[2:5])) %*% t(L) }
banded1 <- function(par) function(d) exp(par[1]) + banded1_cov(par)[d$occ, d$occ]
banded1_nat <- function(par) {
  S <- banded1_cov(par); v <- diag(S)
  c(list(var_cons = exp(par[1])), setNames(as.list(v), paste0("var_e", 1:4)),
    setNames(as.list(S[cbind(1:3, 2:4)] / sqrt(v[1:3] * v[2:4])), c("cor(1,2)", "cor(2,3)", "cor(3,4)")))
}

by_sex <- function(lag_cor) function(par) function(d) {
  k <- if (d$Sex[1] == "Female") 0 else 2
  marginal(exp(par[1]), exp(par[2 + k]) * lag_cor(lagmat(d), tanh(par[3 + k])))
}
by_sex_nat <- function(name) function(par) list(var_cons = exp(par[1]), var_e.Female = exp(par[2]),
  var_e.Male = exp(par[4])) |> c(setNames(list(tanh(par[3]), tanh(par[5])), paste0(name, c(".Female", ".Male"))))
ar1_cor <- function(L, phi) phi^L
toep1_cor <- function(L, rho) (L == 0) + rho * (L == 1)

# ------------------------------------------------------------------ check the likelihood against nlme
ar1 <- function(par) function(d) marginal(exp(par[1]), exp(par[2]) * tanh(par[3])^lagmat(d))
m <- lme(distance ~ age, O, random = ~ 1 | Subject, correlation = corAR1(form = ~ occ | Subject))
ours <- fit(O, ar1, c(1, 1, 0), TRUE, function(par) list())
stopifnot(abs(ours$logLik - as.numeric(logLik(m))) < 1e-6)

# ------------------------------------------------------------------ the references
unbalanced <- O[-seq(3, nrow(O), by = 7), ]
cases <- list(
  toeplitz1_reml = list(O, toeplitz1, c(1, 1, 0), TRUE, toeplitz1_nat, "residuals(toeplitz 1, t(occ))"),
  toeplitz1_ml = list(O, toeplitz1, c(1, 1, 0), FALSE, toeplitz1_nat, "residuals(toeplitz 1, t(occ)) mle"),
  toeplitz1_unbalanced_reml = list(unbalanced, toeplitz1, c(1, 1, 0), TRUE, toeplitz1_nat,
                                   "residuals(toeplitz 1, t(occ))"),
  banded1_reml = list(O, banded1, c(1, rep(1, 4), rep(0, 3)), TRUE, banded1_nat, "residuals(banded 1, t(occ))"),
  ar1_bysex_reml = list(O, by_sex(ar1_cor), c(1, 1, 0, 1, 0), TRUE, by_sex_nat("Phi"),
                        "residuals(ar 1, t(occ) by(Sex))"),
  toeplitz1_bysex_reml = list(O, by_sex(toep1_cor), c(1, 1, 0, 1, 0), TRUE, by_sex_nat("rho1"),
                              "residuals(toeplitz 1, t(occ) by(Sex))")
)
out <- list()
for (id in names(cases)) {
  a <- cases[[id]]
  r <- fit(a[[1]], a[[2]], a[[3]], a[[4]], a[[5]])
  out[[id]] <- c(list(stata = paste("mixed distance age || Subject:,", a[[6]]),
                      engine = "direct nlminb/optim on the marginal Gaussian likelihood (R 4.2.2)"), r)
  if (nrow(a[[1]]) < nrow(O)) out[[id]]$dropped_rows <- seq(3, nrow(O), by = 7)  # 1-based rows of Orthodont
}

g <- gls(distance ~ age, O, correlation = corARMA(p = 3, form = ~ occ | Subject))
V <- getVarCov(g, individual = "M01")
out$toeplitz3_reml <- list(stata = "mixed distance age || Subject:, residuals(toeplitz 3, t(occ))",
  engine = "nlme 3.1.162 gls(distance ~ age, Orthodont, correlation = corARMA(p = 3, form = ~ occ | Subject))",
  method = "REML", logLik = as.numeric(logLik(g)), fixef = as.list(coef(g)),
  marginal_cov = unname(lapply(seq_len(4), function(i) as.numeric(V[i, ]))))
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/extra_stata_residuals.json")
