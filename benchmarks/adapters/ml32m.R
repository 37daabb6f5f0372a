# Usage: Rscript ml32m.R CSV FORMULA WARM
# The lme4 side of benchmarks/ml32m.py: reads the rows (user, movie, y) with data.table::fread, makes user and movie
# factors, fits lmer(FORMULA, REML = FALSE) once (first) and WARM more times, timing each with proc.time().
# Prints one line "@@BENCH_RESULT@@ {json}": load_s, first_s, warm_s, loglik, theta, sigma, fixef, peak_rss_mb.
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
suppressPackageStartupMessages({library(jsonlite); library(data.table); library(lme4)})
now <- function() proc.time()[["elapsed"]]
peak <- function() as.numeric(gsub("[^0-9]", "", grep("^VmHWM:", readLines("/proc/self/status"), value = TRUE))) / 1024
t0 <- now()
d <- as.data.frame(fread(args[1]))
d$user <- factor(d$user)
d$movie <- factor(d$movie)
load_s <- now() - t0
form <- as.formula(args[2])
warns <- character()
t0 <- now()
m <- withCallingHandlers(lmer(form, data = d, REML = FALSE), warning = function(w) {
  warns <<- unique(c(warns, substr(conditionMessage(w), 1, 150)))
  invokeRestart("muffleWarning")
})
first <- now() - t0
peak_first <- peak()
result <- function(warm) list(load_s = load_s, first_s = first, warm_s = as.list(warm),
                              loglik = as.numeric(logLik(m)), theta = unname(getME(m, "theta")),
                              theta_names = names(getME(m, "theta")), sigma = sigma(m), fixef = unname(fixef(m))[1],
                              peak_rss_first_mb = peak_first, peak_rss_mb = peak(), warnings = warns,
                              feval = m@optinfo$feval)
emit <- function(x) cat(mark, toJSON(x, auto_unbox = TRUE, digits = NA, null = "null"), "\n", sep = "")
emit(result(c()))  # kept if the warm fits run past the time limit
warm <- c()
for (i in seq_len(as.integer(args[3]))) {
  t0 <- now(); suppressWarnings(lmer(form, data = d, REML = FALSE)); warm <- c(warm, now() - t0)
}
emit(result(warm))
