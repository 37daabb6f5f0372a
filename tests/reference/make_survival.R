# Reference values for mixjax's censored and survival families without random effects (mixjax fits them with the
# random-effect SD held at 0). survival::survreg where it fits the model; otherwise the log-likelihood written out
# here and maximized by nlminb (Gompertz, two-parameter gamma, delayed entry). Parameters in Stata's metrics.
# Run from the repository root: Rscript tests/reference/make_survival.R
# Writes tests/reference/survival_families.json and the derived data sets tests/reference/data/
# sleepstudy_interval.csv and kidney_entry.csv.
suppressPackageStartupMessages({library(survival); library(jsonlite)})
kidney <- read.csv("tests/reference/data/kidney.csv")
sleep <- read.csv("tests/reference/data/sleepstudy_censored.csv")

# interval-censored reaction times: left-censored below 220, right-censored above 400, 25 ms bins for odd rows,
# exact for even rows
r <- sleep$Reaction
lo <- ifelse(seq_along(r) %% 2 == 1, floor(r / 25) * 25, r)
hi <- ifelse(seq_along(r) %% 2 == 1, floor(r / 25) * 25 + 25, r)
lo[r < 220] <- NA; hi[r < 220] <- 220
lo[r > 400] <- 400; hi[r > 400] <- NA
interval <- data.frame(Days = sleep$Days, Subject = sleep$Subject, lo = lo, hi = hi)
write.csv(interval, "tests/reference/data/sleepstudy_interval.csv", row.names = FALSE)

# delayed entry: every third row enters at 40% of its time (rounded down)
entry_data <- kidney
entry_data$entry <- ifelse(seq_len(nrow(kidney)) %% 3 == 0, floor(0.4 * kidney$time), 0)
write.csv(entry_data, "tests/reference/data/kidney_entry.csv", row.names = FALSE)

X <- model.matrix(~ age + sex, kidney)
t <- kidney$time; d <- kidney$status

fit_direct <- function(loglik, start, names) {
  opt <- nlminb(start, function(p) -loglik(p), control = list(rel.tol = 1e-15, eval.max = 5000, iter.max = 5000))
  opt2 <- optim(opt$par, function(p) -loglik(p), method = "BFGS", control = list(reltol = 1e-15, maxit = 5000))
  par <- if (-opt2$value > -opt$objective) opt2$par else opt$par
  list(logLik = loglik(par), params = setNames(as.list(par), names), method = "direct likelihood, nlminb + BFGS")
}

from_survreg <- function(fit, ph = FALSE, ancillary = NULL, anc_value = NULL) {
  b <- coef(fit)
  if (ph) b <- -b / fit$scale
  params <- as.list(setNames(b, sub("\\(Intercept\\)", "Intercept", names(b))))
  if (!is.null(ancillary)) params[[ancillary]] <- anc_value
  list(logLik = as.numeric(logLik(fit)), params = params, method = paste("survreg:", paste(deparse(fit$call), collapse = " ")))
}

out <- list()
f <- Surv(time, status) ~ age + sex
out$exponential <- from_survreg(survreg(f, kidney, dist = "exponential"), ph = TRUE)
out$exponential_aft <- from_survreg(survreg(f, kidney, dist = "exponential"))
w <- survreg(f, kidney, dist = "weibull")
out$weibull <- from_survreg(w, ph = TRUE, "ln_p", -log(w$scale))
out$weibull_aft <- from_survreg(w, FALSE, "ln_p", -log(w$scale))
ln <- survreg(f, kidney, dist = "lognormal")
out$lognormal <- from_survreg(ln, FALSE, "ln_sigma", log(ln$scale))
ll <- survreg(f, kidney, dist = "loglogistic")
out$loglogistic <- from_survreg(ll, FALSE, "ln_gamma", log(ll$scale))

pnames <- c("Intercept", "age", "sex")
gompertz <- function(p) {
  eta <- drop(X %*% p[1:3]); g <- p[4]
  sum(d * (eta + g * t) - exp(eta) * expm1(g * t) / g)
}
out$gompertz <- fit_direct(gompertz, c(out$exponential$params$Intercept, 0, 0, 0.001), c(pnames, "gamma"))
gamma_aft <- function(p) {  # t ~ Gamma(shape 1/s, scale s exp(eta)), logs = log s
  eta <- drop(X %*% p[1:3]); k <- exp(-p[4]); sc <- exp(p[4] + eta)
  sum(ifelse(d == 1, dgamma(t, shape = k, scale = sc, log = TRUE),
             pgamma(t, shape = k, scale = sc, lower.tail = FALSE, log.p = TRUE)))
}
out$gamma_aft <- fit_direct(gamma_aft, c(unlist(out$exponential_aft$params), 0), c(pnames, "logs"))

t0 <- entry_data$entry
weibull_entry <- function(p) {  # PH: h = p t^(p-1) exp(eta); log S(t) = -exp(eta) t^p
  eta <- drop(X %*% p[1:3]); sh <- exp(p[4])
  sum(d * (eta + p[4] + (sh - 1) * log(t)) - exp(eta) * t^sh + exp(eta) * t0^sh)
}
out$weibull_entry <- fit_direct(weibull_entry, c(unlist(out$weibull$params)), c(pnames, "ln_p"))
out$weibull_entry$formula <- "Surv(entry, time, status) ~ age + sex, data kidney_entry.csv"

tob <- survreg(Surv(y, 1 - censored) ~ Days, sleep, dist = "gaussian")
out$tobit <- from_survreg(tob, FALSE, "ln_sigma", log(tob$scale))
out$tobit$formula <- "cens(y, upper=400) ~ Days"
sleep$lo2 <- ifelse(sleep$y <= 250, NA, sleep$y)
sleep$hi2 <- ifelse(sleep$y <= 250, 250, sleep$y)
sleep$hi2[sleep$censored == 1] <- NA
tob2 <- survreg(Surv(lo2, hi2, type = "interval2") ~ Days, sleep, dist = "gaussian")
out$tobit_two_limits <- from_survreg(tob2, FALSE, "ln_sigma", log(tob2$scale))
out$tobit_two_limits$formula <- "cens(y, lower=250, upper=400) ~ Days"
iv <- survreg(Surv(lo, hi, type = "interval2") ~ Days, interval, dist = "gaussian")
out$interval <- from_survreg(iv, FALSE, "ln_sigma", log(iv$scale))
out$interval$formula <- "interval(lo, hi) ~ Days, data sleepstudy_interval.csv"
for (nm in c("exponential", "exponential_aft", "weibull", "weibull_aft", "lognormal", "loglogistic", "gompertz",
             "gamma_aft")) out[[nm]]$formula <- "Surv(time, status) ~ age + sex, data kidney.csv"
out$meta <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
                 note = "no random effects; params in Stata's metrics (PH: log hazard ratios; AFT: log time ratios)")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/survival_families.json")
