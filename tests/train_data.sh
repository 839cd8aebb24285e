# Sourced by the training tests: make_data writes, in the current
# directory, a small synthetic corpus for each task: text.txt (lm),
# text.conllu (tagger) and text.tsv (classifier).
make_data() {
    awk 'BEGIN { srand(7); split("the a one my his her", det); split("cat dog nation motion man", n);
         split("walked opened slept ran sat", v); split("quickly slowly badly well", adv);
         for (i = 0; i < 400; i++) printf "%s %s %s %s.\n", det[int(rand()*6)+1], n[int(rand()*5)+1],
             v[int(rand()*5)+1], adv[int(rand()*4)+1] }' > text.txt
    awk '{ printf "# text = %s\n", $0; sub(/\.$/, " ."); n = split($0, w, " ");
           t[1] = "DET"; t[2] = "NOUN"; t[3] = "VERB"; t[4] = "ADV"; t[5] = "PUNCT";
           for (i = 1; i <= n; i++) printf "%d\t%s\t_\t%s\t_\t_\t_\t_\t_\t_\n", i, w[i], t[i];
           printf "\n" }' <(head -n 120 text.txt) > text.conllu
    awk 'BEGIN { srand(3); split("good fine great nice", g); split("bad awful poor dull", b) }
         { l = rand() < 0.5; printf "%s\t%s %s\n", l ? "pos" : "neg", $0, l ? g[int(rand()*4)+1] : b[int(rand()*4)+1] }' \
        text.txt > text.tsv
}
