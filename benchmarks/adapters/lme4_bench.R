# Usage: Rscript lme4_bench.R CSV FORMULA REML REPEATS WARM_BUDGET_S FACTOR_COLS [FAMILY NAGQ ENGINE [NLME...]]
# FAMILY (mixjax's name; empty for a linear mixed model), NAGQ, ENGINE ("lme4", "glmmTMB" or "nlme"); for nlme,
# FORMULA is the model and NLME is FIXED RANDOM_PARAMS GROUP START ("a=1,b=2") COVARIANCE ("unstructured"/"diagonal").
# Prints one line: "@@BENCH_RESULT@@ {json}" (same fields as benchmarks/harness.py).
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
json_str <- function(x) paste0('"', gsub('([\\\\"])', "\\\\\\1", gsub("[\r\n\t]", " ", x)), '"')
json_num <- function(x) if (is.null(x) || is.na(x)) "null" else sprintf("%.17g", x)
emit <- function(fields) {
  cat(mark, "{", paste(sprintf('"%s": %s', names(fields), unlist(fields)), collapse = ", "), "}\n", sep = "")
  quit(save = "no")
}
family <- if (length(args) >= 7) args[7] else ""
nagq <- if (length(args) >= 8) as.integer(args[8]) else 1L
engine <- if (length(args) >= 9) args[9] else "lme4"
if (!requireNamespace(engine, quietly = TRUE)) emit(list(skipped = json_str(paste("R package", engine, "not installed"))))

proc_status_mb <- function(key) {  # VmRSS (current) / VmHWM (peak), Linux only
  st <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  line <- grep(paste0("^", key, ":"), st, value = TRUE)
  if (length(line) == 0) NA else as.numeric(gsub("[^0-9]", "", line)) / 1024
}

suppressPackageStartupMessages(library(engine, character.only = TRUE))
d <- read.csv(args[1])
factors <- if (length(args) >= 6 && nzchar(args[6])) strsplit(args[6], ",")[[1]] else character()
for (f in factors) d[[f]] <- factor(d[[f]])
form <- as.formula(args[2])
reml <- as.logical(args[3])
repeats <- as.integer(args[4])
budget <- as.numeric(args[5])

r_family <- switch(family, binomial = binomial(), poisson = poisson(), gamma = Gamma(link = "log"), NULL)
fit_model <- function() {
  if (engine == "nlme") {
    random <- as.formula(paste(args[11], "~ 1"))
    pairs <- strsplit(strsplit(args[13], ",")[[1]], "=")
    start <- setNames(as.numeric(sapply(pairs, `[`, 2)), sapply(pairs, `[`, 1))
    return(nlme::nlme(form, data = d, fixed = as.formula(args[10]),
                      random = if (args[14] == "diagonal") pdDiag(random) else pdSymm(random),
                      groups = as.formula(paste("~", args[12])), start = start))
  }
  if (engine == "glmmTMB") {
    fam <- if (family == "nbinom2") glmmTMB::nbinom2() else if (family == "nbinom1") glmmTMB::nbinom1() else r_family
    return(glmmTMB::glmmTMB(form, data = d, family = fam))
  }
  if (family == "") return(lmer(form, data = d, REML = reml))
  if (family == "nbinom2") return(glmer.nb(form, data = d))
  glmer(form, data = d, family = r_family, nAGQ = nagq)
}
warns <- character()
fit_once <- function(record = FALSE) {
  t0 <- proc.time()[["elapsed"]]
  m <- withCallingHandlers(fit_model(), warning = function(w) {
    if (record) warns <<- unique(c(warns, substr(conditionMessage(w), 1, 200)))
    invokeRestart("muffleWarning")
  })
  list(t = proc.time()[["elapsed"]] - t0, loglik = as.numeric(logLik(m)))
}

base <- proc_status_mb("VmRSS")
first <- fit_once(record = TRUE)
warm <- numeric()
start <- proc.time()[["elapsed"]]
while (length(warm) < repeats && (length(warm) == 0 || proc.time()[["elapsed"]] - start < budget)) {
  warm <- c(warm, fit_once()$t)
}
emit(list(
  first_s = json_num(first$t),
  warm_median_s = if (length(warm)) json_num(median(warm)) else "null",
  warm_s = paste0("[", paste(sprintf("%.6f", warm), collapse = ", "), "]"),
  loglik = json_num(first$loglik),
  base_rss_mb = json_num(base),
  peak_rss_mb = json_num(proc_status_mb("VmHWM")),
  warnings = paste0("[", paste(vapply(warns, json_str, ""), collapse = ", "), "]")
))
