# Usage: Rscript latency.R MANIFEST.tsv
# The R side of benchmarks/latency.py: the 17 reference models fitted one after another in this one R process.
# MANIFEST (written by latency.py) has one row per model: id, csv, formula, engine (lmer / glmer / clmm / tobit),
# reml, family, nagq, factors (comma-separated columns made factors), ordered (the response of clmm, an ordered
# factor). Times library() of the fitting packages, the CSV reading (each file once) and each fit (formula to fitted
# model, proc.time() elapsed). "tobit": a random-intercept tobit right-censored at 400 (Stata's metobit ul(400)),
# its marginal likelihood written out here (adaptive Gauss-Hermite quadrature, 15 nodes as mixjax, modes by
# Newton), maximized by optim BFGS from lmer's ML estimates: R has no package installed here that fits it.
# Prints one line "@@BENCH_RESULT@@ {json}": library_s, load_total_s, rows (id, fit_s, loglik, nobs, warnings),
# fit_total_s, peak_rss_mb.
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
suppressPackageStartupMessages(library(jsonlite))
now <- function() proc.time()[["elapsed"]]
t0 <- now()
suppressPackageStartupMessages(library(lme4))
have <- sapply(c("ordinal", "statmod"), function(p) suppressPackageStartupMessages(require(p, character.only = TRUE,
                                                                                      quietly = TRUE)))
library_s <- now() - t0

man <- read.delim(args[1], stringsAsFactors = FALSE, na.strings = character(), colClasses = "character")
datasets <- list()
load_s <- list()
for (i in seq_len(nrow(man))) {
  r <- man[i, ]
  if (!is.null(datasets[[r$csv]])) next
  t0 <- now()
  d <- read.csv(r$csv)
  for (f in strsplit(r$factors, ",")[[1]]) if (nzchar(f)) d[[f]] <- factor(d[[f]])
  if (nzchar(r$ordered)) d[[r$ordered]] <- factor(d[[r$ordered]], ordered = TRUE)
  datasets[[r$csv]] <- d
  load_s[[r$id]] <- now() - t0
}

tobit <- function(form, d, ul = 400, nq = 15) {
  X <- model.matrix(nobars(form), d)
  y <- d[[all.vars(form)[1]]]
  cens <- y >= ul
  g <- as.integer(factor(d[[all.vars(findbars(form)[[1]])[1]]]))
  G <- max(g)
  gh <- gauss.quad(nq, "hermite")
  p <- ncol(X)
  loglik <- function(par) {
    beta <- par[seq_len(p)]; su <- exp(par[p + 1]); se <- exp(par[p + 2])
    eta <- drop(X %*% beta)
    h <- function(u) {  # per group: sum of log f(y | u) + log prior
      z <- (y - eta - u[g]) / se
      lf <- ifelse(cens, pnorm(z, lower.tail = FALSE, log.p = TRUE), dnorm(z, log = TRUE) - log(se))
      rowsum(lf, g, reorder = TRUE)[, 1] + dnorm(u, 0, su, log = TRUE)
    }
    u <- rep(0, G)
    for (it in 1:100) {
      z <- (y - eta - u[g]) / se
      lam <- exp(dnorm(z, log = TRUE) - pnorm(z, lower.tail = FALSE, log.p = TRUE))
      d1 <- ifelse(cens, lam / se, z / se)
      d2 <- ifelse(cens, -lam * (lam - z) / se^2, -1 / se^2)
      g1 <- rowsum(d1, g, reorder = TRUE)[, 1] - u / su^2
      g2 <- rowsum(d2, g, reorder = TRUE)[, 1] - 1 / su^2
      step <- g1 / g2
      u <- u - step
      if (max(abs(step)) < 1e-10) break
    }
    s <- 1 / sqrt(-g2)
    vals <- sapply(seq_len(nq), function(k) h(u + sqrt(2) * s * gh$nodes[k]) + gh$nodes[k]^2)
    mx <- apply(vals, 1, max)
    sum(log(sqrt(2) * s) + mx + log(drop(exp(vals - mx) %*% gh$weights)))
  }
  m0 <- lmer(form, d, REML = FALSE)
  start <- c(fixef(m0), log(attr(VarCorr(m0)[[1]], "stddev")), log(sigma(m0)))
  opt <- optim(start, function(par) -loglik(par), method = "BFGS", control = list(reltol = 1e-12, maxit = 1000))
  structure(list(par = opt$par, loglik = -opt$value, convergence = opt$convergence), class = "rtobit")
}
logLik.rtobit <- function(object, ...) object$loglik

fit_one <- function(r, d) {
  need <- c(clmm = "ordinal", tobit = "statmod")[r$engine]
  if (!is.na(need) && !have[[need]]) stop(paste("R package", need, "not installed (Debian: r-cran-", need, ")",
                                                sep = ""))
  form <- as.formula(r$formula)
  nagq <- as.integer(r$nagq)
  switch(r$engine,
         lmer = lmer(form, data = d, REML = as.logical(r$reml)),
         glmer = glmer(form, data = d, family = switch(r$family, binomial = binomial(), poisson = poisson()),
                       nAGQ = nagq),
         clmm = clmm(form, data = d, link = "logit", nAGQ = nagq),
         tobit = tobit(form, d, nq = nagq))
}

rows <- list()
for (i in seq_len(nrow(man))) {
  r <- man[i, ]
  d <- datasets[[r$csv]]
  warns <- character()
  t0 <- now()
  m <- tryCatch(withCallingHandlers(fit_one(r, d), warning = function(w) {
    warns <<- unique(c(warns, substr(conditionMessage(w), 1, 120)))
    invokeRestart("muffleWarning")
  }, message = function(msg) invokeRestart("muffleMessage")), error = function(e) e)
  s <- now() - t0
  if (inherits(m, "error")) {
    rows[[i]] <- list(id = r$id, fit_s = s, nobs = nrow(d), error = conditionMessage(m))
  } else {
    rows[[i]] <- list(id = r$id, fit_s = s, nobs = nrow(d), loglik = as.numeric(logLik(m)), warnings = warns)
  }
}
peak <- as.numeric(gsub("[^0-9]", "", grep("^VmHWM:", readLines("/proc/self/status"), value = TRUE))) / 1024
cat(mark, toJSON(list(import_s = library_s, load_s = load_s, load_total_s = sum(unlist(load_s)), rows = rows,
                      fit_total_s = sum(sapply(rows, function(x) x$fit_s)), peak_rss_mb = peak,
                      r = R.version.string, lme4 = format(packageVersion("lme4")),
                      ordinal = if (have[["ordinal"]]) format(packageVersion("ordinal")) else NULL),
                 auto_unbox = TRUE, digits = NA, null = "null"), "\n", sep = "")
