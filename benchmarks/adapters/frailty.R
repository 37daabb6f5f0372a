# Usage: Rscript frailty.R CSV ENGINE REPEATS
# Times a Weibull proportional-hazards model with a normal random intercept (a log-normal frailty; Stata's
# `mestreg x || g:, distribution(weibull)`) for benchmarks/frailty.py on the rows in CSV (columns time, status, x
# (or age, sex), g). ENGINE:
#   numint   the marginal likelihood by adaptive Gauss-Hermite quadrature with 60 nodes per cluster (each cluster's
#            integrand is exp(D u - A e^u - u^2 / (2 s^2)) times constants, with D its events and A its summed
#            t^p exp(x'b); its mode by Newton), maximized by optim's BFGS from survreg's fit: the method of the
#            shared references' numerical integration, written out here.
#   survreg  survival::survreg(Surv(time, status) ~ x, dist = "weibull"): no random effect, for scale.
# Prints "@@BENCH_RESULT@@ {json}" with first_s, warm_s (median of up to REPEATS more fits, 60 s at most), n_warm,
# loglik, the estimates, peak_rss_mb.
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({library(survival); library(jsonlite)})
d <- read.csv(args[1]); engine <- args[2]; repeats <- as.integer(args[3])
d$g <- factor(d$g, levels = unique(d$g))
covs <- setdiff(names(d), c("time", "status", "g"))
X <- cbind(1, as.matrix(d[covs]))
gh <- statmod_free_gh <- function(n) {  # Golub-Welsch: nodes and weights for the weight exp(-x^2)
  b <- sqrt(seq_len(n - 1) / 2); J <- diag(0, n); J[cbind(1:(n - 1), 2:n)] <- b; J[cbind(2:n, 1:(n - 1))] <- b
  e <- eigen(J, symmetric = TRUE); list(x = e$values, w = sqrt(pi) * e$vectors[1, ]^2)
}
rule <- gh(60)
g <- as.integer(d$g); ng <- nlevels(d$g)
negloglik <- function(par) {
  k <- ncol(X); beta <- par[1:k]; p <- exp(par[k + 1]); s <- exp(par[k + 2])
  eta <- drop(X %*% beta); lt <- log(d$time)
  B <- rowsum(d$status * (log(p) + (p - 1) * lt + eta), g)[, 1]
  A <- rowsum(exp(p * lt + eta), g)[, 1]; D <- rowsum(d$status, g)[, 1]
  u <- rep(0, ng)
  for (it in 1:50) {  # the mode of D u - A e^u - u^2 / (2 s^2)
    g1 <- D - A * exp(u) - u / s^2; g2 <- -A * exp(u) - 1 / s^2
    step <- pmax(pmin(g1 / g2, 2), -2); u <- u - step; if (!all(is.finite(u)) || max(abs(step)) < 1e-12) break
  }
  sc <- 1 / sqrt(A * exp(u) + 1 / s^2)
  z <- outer(sc, sqrt(2) * rule$x) + u  # clusters x nodes
  h <- sweep(D * z - A * exp(z) - z^2 / (2 * s^2), 2, rule$x^2, "+")  # weights are for exp(-x^2)
  m <- apply(h, 1, max)
  li <- m + log(drop(exp(h - m) %*% (rule$w * sqrt(2)))) + log(sc) - log(s) - 0.5 * log(2 * pi)
  out <- -sum(B + li)
  if (is.finite(out)) out else 1e300
}
now <- function() proc.time()[["elapsed"]]
fit <- function() {
  sr <- survreg(Surv(time, status) ~ ., data = d[c("time", "status", covs)], dist = "weibull")
  if (engine == "survreg") return(list(loglik = as.numeric(logLik(sr)), par = c(coef(sr), log_scale = log(sr$scale))))
  p <- 1 / sr$scale
  start <- c(-coef(sr) * p, log(p), log(0.5))
  o <- optim(start, negloglik, method = "BFGS", control = list(maxit = 500, reltol = 1e-12))
  list(loglik = -o$value, par = o$par, convergence = o$convergence)
}
t0 <- now(); m <- fit(); first <- now() - t0
warm <- c(); start <- now()
while (length(warm) < repeats && (length(warm) == 0 || now() - start < 60)) { t0 <- now(); fit(); warm <- c(warm, now() - t0) }
peak <- as.numeric(gsub("[^0-9]", "", grep("^VmHWM:", readLines("/proc/self/status"), value = TRUE))) / 1024
cat("@@BENCH_RESULT@@ ", toJSON(list(first_s = first, warm_s = if (length(warm)) median(warm) else NULL,
    n_warm = length(warm), loglik = m$loglik, par = as.list(m$par), peak_rss_mb = peak), auto_unbox = TRUE, digits = NA),
    "\n", sep = "")
