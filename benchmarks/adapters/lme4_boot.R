# Usage: Rscript lme4_boot.R CSV FORMULA REML FAMILY NSIM FACTOR_COLS
# Times lme4's parametric bootstrap: fits the model once (lmer when FAMILY is empty, else glmer with mixjax's family
# name: binomial, poisson, gamma), then bootMer(m, function(x) c(fixef(x), getME(x, "theta")), nsim = NSIM,
# type = "parametric", seed = 1), serial. FORMULA is passed to R as is (a binomial response may be cbind(y, n - y));
# FACTOR_COLS is a comma-separated list of columns to read as factors. REML is ignored for glmer.
# Prints one line: "@@BENCH_RESULT@@ {json}" with fit_s (the one fit), boot_s (the bootMer call), nsim,
# fits_per_s (nsim / boot_s) and n_complete (replicates with no NA statistic).
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
json_str <- function(x) paste0('"', gsub('([\\\\"])', "\\\\\\1", gsub("[\r\n\t]", " ", x)), '"')
json_num <- function(x) if (is.null(x) || is.na(x)) "null" else sprintf("%.17g", x)
emit <- function(fields) {
  cat(mark, "{", paste(sprintf('"%s": %s', names(fields), unlist(fields)), collapse = ", "), "}\n", sep = "")
  quit(save = "no")
}
if (length(args) < 5) stop("usage: Rscript lme4_boot.R CSV FORMULA REML FAMILY NSIM [FACTOR_COLS]")
if (!requireNamespace("lme4", quietly = TRUE)) emit(list(skipped = json_str("R package lme4 not installed")))

suppressPackageStartupMessages(library(lme4))
d <- read.csv(args[1])
factors <- if (length(args) >= 6 && nzchar(args[6])) strsplit(args[6], ",")[[1]] else character()
for (f in factors) d[[f]] <- factor(d[[f]])
form <- as.formula(args[2])
reml <- as.logical(args[3])
family <- args[4]
nsim <- as.integer(args[5])

r_family <- switch(family, binomial = binomial(), poisson = poisson(), gamma = Gamma(link = "log"), NULL)
if (nzchar(family) && is.null(r_family)) emit(list(skipped = json_str(paste("family", family, "not supported"))))
fit_model <- function() {
  if (!nzchar(family)) return(lmer(form, data = d, REML = reml))
  glmer(form, data = d, family = r_family)
}
quiet <- function(expr) withCallingHandlers(expr, warning = function(w) invokeRestart("muffleWarning"),
                                            message = function(m) invokeRestart("muffleMessage"))

t0 <- proc.time()[["elapsed"]]
m <- quiet(fit_model())
fit_s <- proc.time()[["elapsed"]] - t0

stat <- function(x) c(fixef(x), getME(x, "theta"))
t0 <- proc.time()[["elapsed"]]
bb <- quiet(bootMer(m, stat, nsim = nsim, type = "parametric", seed = 1))
boot_s <- proc.time()[["elapsed"]] - t0

emit(list(
  fit_s = json_num(fit_s),
  boot_s = json_num(boot_s),
  nsim = json_num(nsim),
  fits_per_s = json_num(nsim / boot_s),
  n_complete = json_num(sum(stats::complete.cases(bb$t)))
))
